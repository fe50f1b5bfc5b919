"""The bot's markdown as safe HTML: everything is escaped first, then a small markdown subset is turned into tags."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

_FENCE = re.compile(r"^```[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:^```[ \t]*$|\Z)", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_ITALIC = re.compile(r"(?<![\w*])[*_](?=[^\s*_])(.+?)(?<=[^\s*_])[*_](?![\w*])")
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^\s)]+)\)")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+(.*)$")
_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
_PLACEHOLDER = "\x00{}\x00"


def to_html(text: str) -> Markup:
    """HTML for chat markdown: code fences, inline code, bold, italics, http(s) links, lists, paragraphs."""
    parts: list[str] = []
    position = 0
    for fence in _FENCE.finditer(text):
        parts.append(_blocks(text[position:fence.start()]))
        language = f' class="language-{escape(fence.group(1))}"' if fence.group(1) else ""
        parts.append(f"<pre><code{language}>{escape(fence.group(2).rstrip(chr(10)))}</code></pre>")
        position = fence.end()
    parts.append(_blocks(text[position:]))
    return Markup("".join(p for p in parts if p))


def inline_html(text: str) -> Markup:
    """HTML for one line (a title): inline code, bold, italics and links only."""
    return Markup(_inline(" ".join(text.split())))


def _blocks(text: str) -> str:
    """Paragraphs split by blank lines; inside one, runs of bullet or numbered lines become lists."""
    html = []
    for block in re.split(r"\n[ \t]*\n", text.strip("\n")):
        lines = [line for line in block.split("\n") if line.strip()]
        if len(lines) == 1 and _HEADING.match(lines[0]):
            html.append(f"<p><strong>{_inline(_HEADING.match(lines[0]).group(1))}</strong></p>")  # type: ignore[union-attr]
            continue
        runs: list[tuple[str, list[str]]] = []  # (kind, items): kind is p, ul or ol
        for line in lines:
            bullet, numbered = _BULLET.match(line), _NUMBERED.match(line)
            kind, item = ("ul", bullet.group(1)) if bullet else ("ol", numbered.group(1)) if numbered else ("p", line)
            if runs and runs[-1][0] == kind:
                runs[-1][1].append(item)
            else:
                runs.append((kind, [item]))
        for kind, items in runs:
            if kind == "p":
                html.append("<p>" + "<br>".join(_inline(item) for item in items) + "</p>")
            else:
                html.append(f"<{kind}>" + "".join(f"<li>{_inline(item)}</li>" for item in items) + f"</{kind}>")
    return "".join(html)


def _inline(line: str) -> str:
    """Escape a line, then mark up code spans (kept verbatim), links, bold and italics."""
    spans: list[str] = []

    def keep(html: str) -> str:
        spans.append(html)
        return _PLACEHOLDER.format(len(spans) - 1)

    line = _CODE_SPAN.sub(lambda m: keep(f"<code>{escape(m.group(1))}</code>"), line.replace("\x00", ""))
    line = _LINK.sub(lambda m: keep(f'<a href="{escape(m.group(2))}" rel="noopener noreferrer nofollow" '
                                    f'target="_blank">{escape(m.group(1))}</a>'), line)
    html = str(escape(line))
    html = _BOLD.sub(r"<strong>\1</strong>", html)
    html = _ITALIC.sub(r"<em>\1</em>", html)
    return re.sub("\x00(\\d+)\x00", lambda m: spans[int(m.group(1))], html)
