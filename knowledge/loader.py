"""Read Q&A markdown documents, in torchtutor's own format or the common foreign ones, into entries."""

from __future__ import annotations

import bisect
import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from knowledge.docs_links import is_well_formed
from knowledge.entries import Entry, slugify

logger = logging.getLogger(__name__)

BUNDLED_DOCS = Path(__file__).resolve().parent / "docs"  # the knowledge pack torchtutor ships
MAX_ANSWER_CHARS = 20_000
# Longer "questions" are junk (a run-on heading); the cap also bounds the cost of cleaning them.
_MAX_QUESTION_CHARS = 2_000
# Share of replacement or control characters above which a file is taken for binary data.
_BINARY_SHARE = 0.05

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_CLOSING_HASHES = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")
_FENCE_OPEN = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
_BR_LINE = re.compile(r"^\s*<br\s*/?>\s*$", re.IGNORECASE)
_RULE_LINE = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_Q_NUMBER = re.compile(r"^q(?:uestion)?\s*#?\d+(?:\.\d+)*\s*(?:[:.)]|[-–—](?=\s)|(?=\s)|$)\s*", re.IGNORECASE)
_PLAIN_NUMBER = re.compile(r"^\d+(?:\.\d+)*(?:[.)](?!\d)|\s*[:–—-](?=\s))\s*")
_ANSWER_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(?:answer|solution)s?\s*:?\s*#*\s*$", re.IGNORECASE)
_ANSWER_LABEL = re.compile(
    r"^\s*(?:[-*+]\s+)?[*_]{0,2}\s*(?:answer|solution|a)\s*[*_]{0,2}\s*:[*_]{0,2}\s*(.*)$", re.IGNORECASE
)
_ANSWER_BOLD = re.compile(r"^\s*[*_]{1,2}(?:answer|solution)[*_]{1,2}\s*$", re.IGNORECASE)
_METADATA = re.compile(
    r"^\s*[*_]{0,2}(also asked|tags|demo|docs|id)[*_]{0,2}\s*:[*_]{0,2}\s*(.*?)\s*$", re.IGNORECASE
)
_LIST_ITEM = re.compile(r"^( {0,3})\d+[.)][ \t]+(.*?)\s*$")
_BOLD_QUESTION_INLINE = re.compile(r"^\*\*(.+?\?)\*\*[ \t]*[:–—-]?[ \t]*(\S.*)$")
_BULLET_ITEM = re.compile(r"^( {0,3})[*+-][ \t]+(.*?)\s*$")
_Q_LABEL = re.compile(r"^q(?:uestion)?\s*\d*\s*[:.]\s*(.+)$", re.IGNORECASE)
_TRAILING_LINK = re.compile(r"\s*(?:\[\[[^\]]*\]\(\S*?\)\]|\[\[[^\]]*\]\]\(\S*\))\s*$")
_LINK = re.compile(r"\[([^\]]*)\]\([^)\s]*\)")
_CODE_SPAN = re.compile(r"(`+[^`]*`+)")
# Emphasis needs a marker on each side; `__init__`, `**kwargs` and `snake_case` are left alone.
_EMPHASIS = re.compile(r"(?<![\w*_])(\*\*|__|\*|_)(?=[^\s*_])(.{1,1000}?)(?<=[^\s*_])\1(?![\w*_])")
_BARE_NUMBER = re.compile(r"^q(?:uestion)?\s*#?\d+(?:\.\d+)*\s*[:.)]?\s*$", re.IGNORECASE)
_NOISE_LINE = re.compile(
    r"^\s*(?:"
    r"|[-*_](?:\s*[-*_]){2,}"
    r"|<br\s*/?>"
    r"|[*_]{0,2}(?:type|access|status|difficulty|level|category)[*_]{0,2}\s*:.*"
    r"|(?:[-*+]\s+)?(?:\[+[^\]]*\]+\(\S*\)\]?\s*)+"
    r"|(?:[-*+]\s+)?<?https?://\S+>?"
    r")\s*$",
    re.IGNORECASE,
)
_PLACEHOLDERS = frozenset(
    ["tbd", "tba", "todo", "to do", "wip", "n/a", "pending", "placeholder", "coming soon"]
    + ["to be filled", "to be added", "to be written", "answer coming soon"]
)


@dataclass
class FileReport:
    """What one document gave: its entries, and warnings about what was skipped or changed."""

    path: str
    entries: list[Entry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Doc:
    """A document's lines with HTML comments blanked, each line's code fence (0: none) and its headings."""

    lines: list[str]
    fences: list[int]
    headings: dict[int, tuple[int, str]]
    order: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.order = sorted(self.headings)


@dataclass
class _Candidate:
    """Something that looks like a question: where it is, its raw text and the lines that may answer it."""

    line: int
    question: str
    body: list[int]
    head: str = ""


def parse_markdown(text: str, source: str = "") -> FileReport:
    """Read the Q&A pairs of one markdown document; bad input gives warnings, never an exception."""
    report = FileReport(path=source)
    text = text.lstrip("\ufeff")
    if not text.strip():
        report.warnings.append("empty document: no entries")
        return report
    if _looks_binary(text):
        report.warnings.append("not a text document (binary data): no entries")
        return report
    try:
        _parse_into(report, text)
    except Exception as exc:  # the contract is warnings, never an exception, whatever the input
        logger.exception("could not parse %s", source or "<text>")
        report.entries.clear()
        report.warnings.append(f"could not parse the document ({exc.__class__.__name__}): no entries")
    if not report.entries and not report.warnings:
        report.warnings.append("no questions found: no entries")
    _make_ids_unique([report])
    return report


def load_file(path: str | Path) -> FileReport:
    """Read one markdown file (UTF-8, undecodable bytes replaced) into a report."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    return parse_markdown(text, source=str(path))


def load_paths(paths: Iterable[str | Path]) -> list[FileReport]:
    """Read files and folders (every *.md below, sorted); ids are made unique across all of them."""
    if isinstance(paths, str | Path):
        paths = [paths]
    reports = [load_file(file) for file in _expand(paths)]
    _make_ids_unique(reports)
    return reports


def load_entries(paths: Iterable[str | Path]) -> list[Entry]:
    """Every entry of the given files and folders, in order, with unique ids; warnings are logged."""
    reports = load_paths(paths)
    for report in reports:
        for warning in report.warnings:
            logger.warning("%s: %s", report.path, warning)
    return [entry for report in reports for entry in report.entries]


def _expand(paths: Iterable[str | Path]) -> Iterator[Path]:
    """The markdown files named by paths, each once; a missing path raises FileNotFoundError."""
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {given}")
        files = sorted(p for p in path.rglob("*.md") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.resolve() not in seen:
                seen.add(file.resolve())
                yield file


def _make_ids_unique(reports: list[FileReport]) -> None:
    """Give a repeated id the suffix -2, -3 ..., warning on the report that holds the repeat."""
    taken: set[str] = set()
    for report in reports:
        for index, entry in enumerate(report.entries):
            new_id, suffix = entry.id, 2
            while new_id in taken:
                new_id, suffix = f"{entry.id}-{suffix}", suffix + 1
            taken.add(new_id)
            if new_id != entry.id:
                report.entries[index] = replace(entry, id=new_id)
                report.warnings.append(f"line {entry.position}: duplicate id '{entry.id}' renamed '{new_id}'")


def _looks_binary(text: str) -> bool:
    """Whether decoded text is mostly replacement or control characters."""
    odd = sum(1 for ch in text if ch == "\ufffd" or (ch < " " and ch not in "\t\n\r\f") or ch == "\x7f")
    return odd > _BINARY_SHARE * len(text)


def _parse_into(report: FileReport, text: str) -> None:
    """Find the question candidates of a document and turn the answered ones into entries."""
    doc = _scan(text, report.warnings)
    heading_candidates, owned = _heading_candidates(doc, report.warnings)
    candidates = sorted(heading_candidates + list(_item_candidates(doc, owned)), key=lambda c: c.line)
    for candidate in candidates:
        entry = _build_entry(doc, candidate, report)
        if entry is not None:
            report.entries.append(entry)


# --- scanning: fences, comments, headings ---------------------------------------------------------


def _scan(text: str, warnings: list[str]) -> _Doc:
    """Split text into lines, blank out HTML comments and mark code fences and headings."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    fences = [0] * len(lines)
    fence: tuple[str, int, int, int] | None = None  # (char, length, id, opening line)
    in_comment, comment_start = False, 0
    for i, line in enumerate(lines):
        if fence is not None:
            fences[i] = fence[2]
            if _closes(line, fence[0], fence[1]):
                fence = None
            continue
        if in_comment or "<!--" in line:
            if not in_comment:
                comment_start = i
            lines[i], in_comment = _strip_comments(line, in_comment)
            if in_comment:
                continue
        opening = _FENCE_OPEN.match(lines[i])
        if opening and not (opening.group(1)[0] == "`" and "`" in opening.group(2)):
            fence = (opening.group(1)[0], len(opening.group(1)), i + 1, i)
            fences[i] = fence[2]
    if fence is not None:
        warnings.append(f"line {fence[3] + 1}: code fence never closed")
    if in_comment:
        warnings.append(f"line {comment_start + 1}: HTML comment never closed")
    return _Doc(lines, fences, _find_headings(lines, fences))


def _closes(line: str, char: str, length: int) -> bool:
    """Whether line closes a fence opened with length characters char."""
    stripped = line.strip()
    return len(stripped) >= length and stripped == char * len(stripped)


def _strip_comments(line: str, inside: bool) -> tuple[str, bool]:
    """Remove the HTML comment parts of a line; say whether a comment is still open at its end."""
    kept: list[str] = []
    pos = 0
    while True:
        if inside:
            end = line.find("-->", pos)
            if end < 0:
                return "".join(kept), True
            pos, inside = end + 3, False
        else:
            start = line.find("<!--", pos)
            if start < 0:
                kept.append(line[pos:])
                return "".join(kept), False
            kept.append(line[pos:start])
            pos, inside = start + 4, True


def _find_headings(lines: list[str], fences: list[int]) -> dict[int, tuple[int, str]]:
    """The ATX headings outside code fences: line index -> (level, text without closing hashes)."""
    headings: dict[int, tuple[int, str]] = {}
    for i, line in enumerate(lines):
        match = _HEADING.match(line) if not fences[i] else None
        if match:
            headings[i] = (len(match.group(1)), _CLOSING_HASHES.sub("", match.group(2) or "").strip())
    return headings


# --- questions under headings ---------------------------------------------------------------------


def _heading_candidates(doc: _Doc, warnings: list[str]) -> tuple[list[_Candidate], list[bool]]:
    """Questions written as headings, and which lines they own (heading and answer region)."""
    candidates: list[_Candidate] = []
    owned = [False] * len(doc.lines)
    order = doc.order
    index = 0
    while index < len(order):
        line = order[index]
        scope = _scope(doc, line)
        candidate = _heading_question(doc, line, scope, warnings)
        if candidate is None:
            index += 1
            continue
        candidates.append(candidate)
        for i in range(line, scope.stop):
            owned[i] = True
        while index < len(order) and order[index] < scope.stop:
            index += 1
    return candidates, owned


def _scope(doc: _Doc, line: int) -> range:
    """The lines after a heading up to the next heading of the same or a higher level."""
    level = doc.headings[line][0]
    for other in _headings_in(doc, range(line + 1, len(doc.lines))):
        if doc.headings[other][0] <= level and not _ANSWER_HEADING.match(doc.lines[other]):
            return range(line + 1, other)
    return range(line + 1, len(doc.lines))


def _heading_question(doc: _Doc, line: int, scope: range, warnings: list[str]) -> _Candidate | None:
    """The question a heading asks, or None for a title, a section or any other heading."""
    text = doc.headings[line][1]
    if _BARE_NUMBER.match(_strip_emphasis(text)):
        return _bare_question(doc, line, scope, warnings)
    if _starts_with_answer(doc, scope):
        return _Candidate(line, text, list(scope))
    numbered = _is_numbered(text)
    if not (numbered or _clean_question(text).endswith("?")) or _is_section(doc, scope, strict=not numbered):
        return None
    return _Candidate(line, text, list(scope))


def _bare_question(doc: _Doc, line: int, scope: range, warnings: list[str]) -> _Candidate:
    """A `## Question 3` heading: the question is the first paragraph below it."""
    rows = [i for i in scope if doc.lines[i].strip()]
    first = rows[0] if rows else None
    if first is None or first in doc.headings or _is_marker(doc.lines[first]) or doc.fences[first]:
        warnings.append(f"line {line + 1}: heading '{doc.headings[line][1]}' has no question text; skipped")
        return _Candidate(line, "", [])
    end = first
    while end + 1 < scope.stop and doc.lines[end + 1].strip() and not _is_marker(doc.lines[end + 1]):
        end += 1
    question = " ".join(doc.lines[i].strip() for i in range(first, end + 1))
    return _Candidate(first, question, list(range(end + 1, scope.stop)))


def _is_numbered(text: str) -> bool:
    """Whether heading text starts with question numbering (`1.`, `2)`, `Q1.1:`, `Question 3:`)."""
    plain = _strip_emphasis(text).strip()
    match = _Q_NUMBER.match(plain) or _PLAIN_NUMBER.match(plain)
    return bool(match and plain[match.end() :].strip())


def _starts_with_answer(doc: _Doc, scope: range) -> bool:
    """Whether the lines under a heading open with metadata or an answer marker."""
    for i in scope:
        line = doc.lines[i]
        if line.strip():
            return not doc.fences[i] and (_is_marker(line) or bool(_METADATA.match(line)))
    return False


def _is_section(doc: _Doc, scope: range, strict: bool) -> bool:
    """Whether a heading groups questions (sub-headings or list items) rather than asking one."""
    lines = [doc.lines[i] for i in scope if not doc.fences[i]]
    if any(_bullet_question(line) for line in lines):
        return True
    asked = [kind[0] for line in lines if (kind := _item_kind(line))]
    if sum(1 for question in asked if question.endswith("?")) >= 2:
        return True
    for i in _headings_in(doc, scope):
        if _ANSWER_HEADING.match(doc.lines[i]):
            continue
        text = _strip_emphasis(doc.headings[i][1])
        if _is_numbered(text) or _BARE_NUMBER.match(text) or _starts_with_answer(doc, _scope(doc, i)):
            return True
        if strict and _clean_question(text).endswith("?"):
            return True
    return False


def _headings_in(doc: _Doc, lines: range) -> list[int]:
    """The heading lines within a range of lines."""
    return doc.order[bisect.bisect_left(doc.order, lines.start) : bisect.bisect_left(doc.order, lines.stop)]


def _is_marker(line: str) -> bool:
    """Whether a line only says that the answer starts here (it may carry the answer's first words)."""
    return bool(_ANSWER_HEADING.match(line) or _ANSWER_LABEL.match(line) or _ANSWER_BOLD.match(line))


# --- questions as list items ----------------------------------------------------------------------


def _item_candidates(doc: _Doc, owned: list[bool]) -> Iterator[_Candidate]:
    """Questions written as list items (`1. **Question?**`, `* **Q: question**`) outside heading questions."""
    i = 0
    while i < len(doc.lines):
        line = doc.lines[i]
        kind = None if owned[i] or doc.fences[i] else _item_kind(line)
        if kind is None:
            i += 1
            continue
        question, head = kind
        body = _item_body(doc, i, owned)
        if body or head or question.endswith("?") or _bullet_question(line) is not None:
            yield _Candidate(i, question, body, head)
        i = body[-1] + 1 if body else i + 1


def _item_kind(line: str) -> tuple[str, str] | None:
    """(question, answer text on the same line) for a question list item, else None."""
    bullet = _bullet_question(line)
    if bullet is not None:
        return bullet, ""
    match = _LIST_ITEM.match(line)
    if not match:
        return None
    content = match.group(2)
    if content.startswith("**") and content.endswith("**") and len(content) > 4 and "**" not in content[2:-2]:
        return content[2:-2], ""
    inline = _BOLD_QUESTION_INLINE.match(content)
    return (inline.group(1), inline.group(2)) if inline else None


def _bullet_question(line: str) -> str | None:
    """The question of a `* **Q: question**` bullet, else None."""
    match = _BULLET_ITEM.match(line)
    if not match or match.group(2).startswith("["):
        return None
    label = _Q_LABEL.match(_strip_emphasis(match.group(2)).strip())
    return label.group(1) if label else None


def _item_body(doc: _Doc, start: int, owned: list[bool]) -> list[int]:
    """The lines indented under a list item (blank lines and the item's own code fences included)."""
    indent = _indent(doc.lines[start])
    own_fences: set[int] = set()
    body: list[int] = []
    for i in range(start + 1, len(doc.lines)):
        line, fence = doc.lines[i], doc.fences[i]
        if owned[i] or (i in doc.headings and not fence):
            break
        if fence and fence not in own_fences and _indent(line) > indent:
            own_fences.add(fence)
        if line.strip() and _indent(line) <= indent and fence not in own_fences:
            break
        body.append(i)
    while body and not doc.lines[body[-1]].strip():
        body.pop()
    return body


def _indent(line: str) -> int:
    """The width of a line's leading whitespace, a tab counting four."""
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip())


# --- turning a candidate into an entry ------------------------------------------------------------


def _build_entry(doc: _Doc, candidate: _Candidate, report: FileReport) -> Entry | None:
    """The entry for a candidate, or None (with a warning) when it has no real question or answer."""
    where = f"line {candidate.line + 1}"
    if len(candidate.question) > _MAX_QUESTION_CHARS:
        report.warnings.append(f"{where}: question of {len(candidate.question)} characters; skipped")
        return None
    question = _clean_question(candidate.question)
    if not question:
        return None
    metadata, answer = _split_answer(doc, candidate)
    if _is_placeholder(answer):
        report.warnings.append(f"{where}: no answer for '{_short(question)}'; skipped")
        return None
    if len(answer) > MAX_ANSWER_CHARS:
        report.warnings.append(f"{where}: answer of {len(answer)} characters truncated to {MAX_ANSWER_CHARS}")
        answer = _truncate(answer)
    return Entry(
        id=metadata.get("id", "") or slugify(question),
        question=question,
        answer=answer,
        aliases=tuple(" ".join(a.split()) for a in metadata.get("also asked", "").split("|") if a.strip()),
        tags=tuple(t.strip() for t in metadata.get("tags", "").split(",") if t.strip()),
        demo=metadata.get("demo") or None,
        source=report.path,
        docs=_docs_names(metadata.get("docs", ""), where, report.warnings),
        position=candidate.line + 1,
    )


def _docs_names(value: str, where: str, warnings: list[str]) -> tuple[str, ...]:
    """The names of a `Docs:` line (backticks allowed), each once; a malformed one is dropped with a warning."""
    names: list[str] = []
    for raw in value.split(","):
        name = raw.strip().strip("`").removesuffix("()").strip()
        if not name or name in names:
            continue
        if is_well_formed(name):
            names.append(name)
        else:
            warnings.append(f"{where}: Docs name {_short(name)!r} is not a torch API name or notes page; left out")
    return tuple(names)


def _split_answer(doc: _Doc, candidate: _Candidate) -> tuple[dict[str, str], str]:
    """The metadata lines (key -> value) and the trimmed answer markdown of a candidate."""
    rows = _until_break(doc, candidate.body)
    lines = _dedent([doc.lines[i] for i in rows])
    if candidate.head:
        lines.insert(0, candidate.head)
    metadata: dict[str, str] = {}
    at = _skip_blank(lines, 0)
    while at < len(lines) and (match := _METADATA.match(lines[at])):
        key, value = match.group(1).lower(), match.group(2)
        separator = {"also asked": " | ", "tags": ", ", "docs": ", "}.get(key)
        metadata[key] = f"{metadata[key]}{separator}{value}" if separator and key in metadata else value
        at = _skip_blank(lines, at + 1)
    lines = lines[at:]
    if lines and _is_marker(lines[0]):
        lines = _drop_marker(lines)
    return metadata, _trim(lines)


def _until_break(doc: _Doc, rows: list[int]) -> list[int]:
    """Rows up to a lone `<br>` line, which ends an answer in some documents."""
    for position, i in enumerate(rows):
        if not doc.fences[i] and _BR_LINE.match(doc.lines[i]):
            return rows[:position]
    return rows


def _dedent(lines: list[str]) -> list[str]:
    """Lines less the indent of the first non-blank one, taken from each line as far as it goes."""
    width = next((_indent(line) for line in lines if line.strip()), 0)
    return [_unindent(line, width) for line in lines]


def _unindent(line: str, width: int) -> str:
    """A line with up to width columns of leading whitespace removed (tabs count four)."""
    text = line.lstrip()
    lead = line[: len(line) - len(text)].expandtabs(4)
    return lead[min(width, len(lead)) :] + text


def _skip_blank(lines: list[str], at: int) -> int:
    """The index of the first non-blank line from at."""
    while at < len(lines) and not lines[at].strip():
        at += 1
    return at


def _drop_marker(lines: list[str]) -> list[str]:
    """Lines without their leading answer marker, keeping any answer text written on the marker line."""
    label = _ANSWER_LABEL.match(lines[0])
    rest = _dedent(lines[1:])
    first = label.group(1).strip() if label and not _ANSWER_HEADING.match(lines[0]) else ""
    return [first, *rest] if first else rest


def _trim(lines: list[str]) -> str:
    """Answer text without trailing spaces, edge blank lines, rules or `<br>` lines."""
    lines = [line.rstrip() for line in lines]

    def is_edge(line: str) -> bool:
        return not line or bool(_RULE_LINE.match(line) or _BR_LINE.match(line))

    while lines and is_edge(lines[0]):
        lines.pop(0)
    while lines and is_edge(lines[-1]):
        lines.pop()
    return "\n".join(lines).strip()


def _is_placeholder(answer: str) -> bool:
    """Whether an answer says nothing: empty, rules, `**Type:**` lines, a lone link, 'TBD', 'Coming soon'."""
    kept = " ".join(line for line in answer.split("\n") if not _NOISE_LINE.match(line))
    words = " ".join(re.sub(r"[^\w\s/]|_", " ", kept).lower().split())
    return not words or words in _PLACEHOLDERS


def _truncate(answer: str) -> str:
    """An answer cut to about MAX_ANSWER_CHARS at a line end, with any open code fence closed."""
    cut = answer[: MAX_ANSWER_CHARS - 16]  # room for a closing fence and the ellipsis
    if "\n" in cut:
        cut = cut[: cut.rfind("\n")]
    fences = [line.strip()[:3] for line in cut.split("\n") if line.strip().startswith(("```", "~~~"))]
    closing = f"\n{fences[-1]}" if len(fences) % 2 else ""
    return f"{cut.rstrip()}{closing}\n\n…"


def _clean_question(text: str) -> str:
    """Question text without numbering, emphasis, link markup or trailing source links."""
    text = unicodedata.normalize("NFKC", text[: _MAX_QUESTION_CHARS * 2])
    previous = None
    while previous != text:
        previous, text = text, _TRAILING_LINK.sub("", text)
    text = _LINK.sub(r"\1", _strip_emphasis(text)).strip()
    match = _Q_NUMBER.match(text) or _PLAIN_NUMBER.match(text)
    if match:
        text = text[match.end() :]
    return " ".join(text.split())


def _strip_emphasis(text: str) -> str:
    """Text (at most _MAX_QUESTION_CHARS of it) without bold and italic markers, code spans as written."""
    parts = _CODE_SPAN.split(text[:_MAX_QUESTION_CHARS])
    for index in range(0, len(parts), 2):
        previous = None
        while previous != parts[index]:
            previous, parts[index] = parts[index], _EMPHASIS.sub(_unemphasise, parts[index])
    return "".join(parts)


def _unemphasise(match: re.Match[str]) -> str:
    """The text inside an emphasis match, unless it is a dunder name like `__init__`."""
    marker, inner = match.group(1), match.group(2)
    return match.group(0) if marker == "__" and inner.isidentifier() else inner


def _short(text: str, width: int = 60) -> str:
    """Text cut to width characters for a warning."""
    return text if len(text) <= width else text[: width - 1] + "…"
