"""The curated knowledge pack (knowledge/docs/*.md): every example runs, every entry is well formed."""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "knowledge" / "docs"
DOC_FILES = sorted(DOCS.glob("*.md"))
SEED = "what-is-pytorch.md"
# The held-out evaluation file: knowledge/eval/ also holds the sets retrieval was tuned on (tuning_questions.tsv,
# dev_wild.tsv) and one for a third-party knowledge base; dev_questions.tsv was written after tuning and kept apart.
HELD_OUT = [REPO / "knowledge" / "eval" / "dev_questions.tsv"]

DEMOS = {
    "tensor-to-device",
    "backward-pass",
    "numpy-interop",
    "dynamic-graph",
    "gpu-speedup",
    "train-tiny",
    "hooks-debugging",
}
MIN_ENTRIES = 147  # with the 3 seed entries, at least 150
MAX_ANSWER_CHARS = 1800
MAX_CODE_LINES = 20

_FENCE = re.compile(r"^\s*(```|~~~)")
_NUMBERED = re.compile(r"^\s*(?:q(?:uestion)?\s*)?\d+[.):]", re.IGNORECASE)
_TAG = re.compile(r"^[a-z0-9][a-z0-9.+-]*$")


@dataclass
class Block:
    """A fenced code block: its language, the 1-based line of its opening fence, and its code."""

    lang: str
    line: int
    code: str


@dataclass
class Entry:
    """One `### question` section as written: its metadata lines and the markdown below `**Answer:**`."""

    file: str
    line: int
    question: str
    lines: list[str]

    def meta(self, key: str) -> str | None:
        """The value of the `key:` line among the lines before the answer, if any."""
        for text in self.lines[: self._answer_at()]:
            if text.startswith(f"{key}:"):
                return text[len(key) + 1 :].strip()
        return None

    def aliases(self) -> list[str]:
        return [a.strip() for a in (self.meta("Also asked") or "").split("|")]

    def tags(self) -> list[str]:
        return [t.strip() for t in (self.meta("Tags") or "").split(",")]

    def answer(self) -> str:
        return "\n".join(self.lines[self._answer_at() + 1 :]).strip()

    def _answer_at(self) -> int:
        return self.lines.index("**Answer:**") if "**Answer:**" in self.lines else len(self.lines)


def code_blocks(text: str) -> list[Block]:
    """The fenced code blocks of a markdown text, in order."""
    blocks: list[Block] = []
    current: Block | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if current is None:
            if _FENCE.match(line):
                current = Block(line.strip()[3:].strip().lower(), number, "")
        elif _FENCE.match(line):
            blocks.append(current)
            current = None
        else:
            current.code += line + "\n"
    assert current is None, f"code fence opened at line {current.line} is never closed"
    return blocks


def parse(path: Path) -> tuple[list[str], list[Entry]]:
    """The H1 titles and the `### ` entries of one document, ignoring anything inside code fences."""
    titles: list[str] = []
    entries: list[Entry] = []
    in_code = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if _FENCE.match(line):
            in_code = not in_code
        elif not in_code and line.startswith("# "):
            titles.append(line[2:].strip())
            continue
        elif not in_code and line.startswith("### "):
            entries.append(Entry(path.name, number, line[4:].strip(), []))
            continue
        if entries:
            entries[-1].lines.append(line)
    return titles, entries


def _norm(text: str) -> str:
    """Text compared loosely: numbering, markup and case ignored."""
    text = _NUMBERED.sub("", text)
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


PACK = {path.name: parse(path) for path in DOC_FILES}
ALL_ENTRIES = [entry for _, entries in PACK.values() for entry in entries]
NEW_ENTRIES = [entry for entry in ALL_ENTRIES if entry.file != SEED]
PYTHON_BLOCKS = [
    pytest.param(path, block, id=f"{path.name}:{block.line}")
    for path in DOC_FILES
    for block in code_blocks(path.read_text(encoding="utf-8"))
    if block.lang in ("python", "py")
]


def _global_state() -> tuple:
    import torch

    return (
        torch.is_grad_enabled(),
        torch.is_inference_mode_enabled(),
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.benchmark,
        torch.get_default_dtype(),
    )


def _handlers_to_reach(code: str, has_cuda: bool) -> set[int]:
    """The first line of each `except` body in code, leaving out those under an `if` about CUDA without a GPU."""
    lines: set[int] = set()

    def visit(node: ast.AST, cuda_only: bool) -> None:
        cuda_only = cuda_only or (isinstance(node, ast.If) and "cuda" in ast.unparse(node.test))
        if isinstance(node, ast.ExceptHandler) and (has_cuda or not cuda_only):
            lines.add(node.body[0].lineno)
        for child in ast.iter_child_nodes(node):
            visit(child, cuda_only)

    visit(ast.parse(code), False)
    return lines


@pytest.mark.parametrize(("path", "block"), PYTHON_BLOCKS)
def test_example_runs(path: Path, block: Block) -> None:
    import torch

    filename = f"{path.name}:{block.line}"
    code = compile(block.code, filename, "exec")
    expected = _handlers_to_reach(block.code, torch.cuda.is_available())
    reached: set[int] = set()

    def trace(frame, event, arg):  # follows only the example's own lines
        if frame.f_code.co_filename != filename:
            return None
        if event == "line":
            reached.add(frame.f_lineno)
        return trace

    before = _global_state()
    previous = sys.gettrace()
    torch.manual_seed(0)
    if expected:
        sys.settrace(trace)
    try:
        exec(code, {})
    finally:
        sys.settrace(previous)
    assert _global_state() == before, "the example leaves PyTorch's global settings changed"
    # An example that shows an error must really raise it, or its `except` teaches nothing.
    assert expected <= reached, f"never raised: the `except` at example line(s) {sorted(expected - reached)}"


def test_pack_is_big_enough_and_questions_are_distinct() -> None:
    assert len(NEW_ENTRIES) >= MIN_ENTRIES, f"only {len(NEW_ENTRIES)} entries outside the seed"
    seen: dict[str, str] = {}
    for entry in ALL_ENTRIES:
        key = _norm(entry.question)
        assert key not in seen, f"{entry.file}:{entry.line} repeats the question of {seen[key]}"
        seen[key] = f"{entry.file}:{entry.line}"


@pytest.mark.parametrize("path", [p for p in DOC_FILES if p.name != SEED], ids=lambda p: p.name)
def test_document_structure(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    titles, entries = PACK[path.name]
    assert len(titles) == 1 and text.startswith(f"# {titles[0]}\n"), "one H1 title, on the first line"
    assert entries, "no `### ` entries"
    blocks = code_blocks(text)
    assert all(b.lang == "python" for b in blocks), "every code block is ```python"
    assert len(blocks) == len(entries), "one code block per entry"


@pytest.mark.parametrize("entry", NEW_ENTRIES, ids=lambda e: f"{e.file}:{e.line}")
def test_entry_format(entry: Entry) -> None:
    assert entry.question and not _NUMBERED.match(entry.question), "question is unnumbered"
    assert "**Answer:**" in entry.lines, "no `**Answer:**` line"
    head = entry.lines[: entry.lines.index("**Answer:**")]
    keys = [line.split(":", 1)[0] for line in head if line.strip()]
    assert keys in (["Also asked", "Tags", "Docs"], ["Also asked", "Tags", "Demo", "Docs"]), f"metadata lines: {keys}"
    assert head[-1] == "", "a blank line before `**Answer:**`"

    aliases = entry.aliases()
    assert 3 <= len(aliases) <= 5 and all(aliases), f"3-5 non-empty aliases: {aliases}"
    keys = {_norm(a) for a in aliases} | {_norm(entry.question)}
    assert len(keys) == len(aliases) + 1, "aliases differ from each other and from the question"
    tags = entry.tags()
    assert tags and all(_TAG.match(t) for t in tags), f"lower-case, comma-separated tags: {tags}"
    demo = entry.meta("Demo")
    assert demo is None or demo in DEMOS, f"unknown demo {demo!r}"

    answer = entry.answer()
    assert 0 < len(answer) <= MAX_ANSWER_CHARS, f"answer of {len(answer)} characters"
    blocks = code_blocks(answer)
    assert len(blocks) == 1 and blocks[0].lang == "python", "exactly one ```python example"
    assert blocks[0].code.count("\n") <= MAX_CODE_LINES, "example under ~20 lines"
    assert answer.rstrip().endswith("```"), "the example closes the answer"


@pytest.mark.parametrize("entry", ALL_ENTRIES, ids=lambda e: f"{e.file}:{e.line}")
def test_every_entry_cites_docs_that_exist_in_the_installed_torch(entry: Entry) -> None:
    from knowledge.docs_links import resolve, url_for

    names = [n.strip() for n in (entry.meta("Docs") or "").split(",")]
    assert names and all(names), "a `Docs:` line naming at least one API or notes page"
    assert len(names) == len(set(names)), f"a name repeated: {names}"
    for name in names:
        resolve(name)  # raises UnknownDocsName for a name torch does not define
        assert url_for(name).startswith("https://docs.pytorch.org/docs/stable/")


def test_aliases_are_not_shared_between_entries() -> None:
    owner: dict[str, str] = {}
    for entry in NEW_ENTRIES:
        for alias in entry.aliases():
            key = _norm(alias)
            assert key not in owner, f"{entry.file}:{entry.line} shares the alias {alias!r} with {owner[key]}"
            owner[key] = f"{entry.file}:{entry.line}"


def test_aliases_do_not_copy_the_held_out_questions() -> None:
    assert HELD_OUT, "knowledge/eval/ holds held-out question files"
    rows = [row for path in HELD_OUT for row in path.read_text(encoding="utf-8").splitlines()[1:]]
    held_out = {_norm(row.split("\t")[1]) for row in rows if row.count("\t") >= 1}
    copied = [
        f"{e.file}:{e.line}: {text!r}"
        for e in NEW_ENTRIES
        for text in [e.question, *e.aliases()]
        if _norm(text) in held_out
    ]
    assert not copied, "phrasings copied from a held-out evaluation file"


def test_loader_reads_the_same_entries() -> None:
    loader = pytest.importorskip("knowledge.loader")
    if not hasattr(loader, "load_paths"):
        pytest.skip("knowledge.loader has no load_paths yet")
    reports = loader.load_paths(DOC_FILES)
    loaded = [entry for report in reports for entry in report.entries]
    assert len(loaded) == len(ALL_ENTRIES)
    assert sorted(_norm(e.question) for e in loaded) == sorted(_norm(e.question) for e in ALL_ENTRIES)
    ids = [e.id for e in loaded]
    assert len(ids) == len(set(ids)), "entry ids are unique"
    by_question = {_norm(e.question): e for e in ALL_ENTRIES}
    for entry in loaded:
        written = by_question[_norm(entry.question)].meta("Docs") or ""
        assert entry.docs == tuple(n.strip() for n in written.split(",")), entry.id

    seed_questions = {_norm(e.question) for e in ALL_ENTRIES if e.file == SEED}
    for entry in loaded:
        if _norm(entry.question) in seed_questions:
            continue
        assert len(entry.aliases) >= 3, entry.id
        assert len(entry.tags) >= 1, entry.id
        assert entry.demo is None or entry.demo in DEMOS, entry.id
    new_reports = [r for r in reports if Path(r.path).name != SEED]
    assert all(not r.warnings for r in new_reports), [w for r in new_reports for w in r.warnings]
