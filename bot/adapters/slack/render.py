"""Neutral replies as Slack Block Kit, with everything the bot echoes escaped.

Slack reads `&`, `<` and `>` as control characters in mrkdwn (`<@U1>` pings a person, `<!channel>` a whole
channel, `<url|label>` disguises a link), so every piece of text is escaped before it is formatted, mass
mentions are neutralised with a zero-width space, and mrkdwn objects are `verbatim` so Slack adds no mentions or
links of its own. Limits (Block Kit reference): 50 blocks, 3,000 characters per section, 2,000 per field and
per button value, 75 per button label, 150 per header, 25 elements per actions block, 10 fields per section.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from bot.core.conversation import Button, Reply
from bot.core.text import chat_escape

Block = dict[str, Any]

MAX_BLOCKS = 50
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
FIELDS_PER_SECTION = 10
HEADER_LIMIT = 150
LABEL_LIMIT = 75
VALUE_LIMIT = 2000
BLOCK_ID_LIMIT = 255
BUTTONS_PER_BLOCK = 25
MAX_ACTION_BLOCKS = 4
CONTEXT_LIMIT = 2000
FALLBACK_LIMIT = 1000
ACTION_ID_PREFIX = "tt:"
BLOCK_ID_PREFIX = "tt:"
_FENCE = "```"

_BOLD_ITALIC = re.compile(r"\*\*\*(?=\S)(.+?)(?<=\S)\*\*\*")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_ITALIC = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^\s()|<>\"]+)\)")
_LOOKS_LIKE_ADDRESS = re.compile(r"://|\bwww\.|\b[\w-]+\.(?:com|org|net|io|dev|ai|co|me|app|gg)\b", re.IGNORECASE)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+")
_QUOTE = re.compile(r"^\s{0,3}>\s?")
_RULE = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_STRONG = "\x00"


def escape(text: str) -> str:
    """Text safe inside mrkdwn: Slack's three control characters escaped, mass mentions neutralised."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return chat_escape(escaped)


def plain(text: str, limit: int | None = None) -> str:
    """Text for a plain_text object (never parsed for markup), mass mentions neutralised, capped."""
    text = chat_escape(text.replace("\x00", ""))
    return _cap(text, limit) if limit else text


def code_escape(text: str) -> str:
    """Code shown verbatim: only Slack's three control characters escaped (mentions are never parsed in code)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(markdown: str) -> str:
    """The core's markdown as Slack mrkdwn (api.slack.com/reference/surfaces/formatting).

    Bold, italics, strikethrough, code, links, quotes, headings (as bold lines), bullets and rules translated;
    code kept verbatim with only `&`, `<`, `>` escaped; every other control character escaped.
    """
    lines: list[str] = []
    in_code = False
    for line in markdown.replace("\r\n", "\n").replace("\x00", "").split("\n"):
        if line.lstrip().startswith(_FENCE):
            in_code = not in_code
            lines.append(_FENCE)  # Slack shows a language tag as code, so drop it
            continue
        lines.append(code_escape(line) if in_code else _line(line))
    if in_code:
        lines.append(_FENCE)
    return "\n".join(lines)


def _line(line: str) -> str:
    if _RULE.match(line):
        return "―" * 12  # Slack has no rule: a line of bars
    heading = _HEADING.match(line)
    if heading:
        return f"*{_inline(heading.group(1)).replace('*', '')}*"
    quote = _QUOTE.match(line)
    if quote:  # `>` is escaped everywhere else; at the start of a line it is Slack's own quote mark
        return "> " + _line(line[quote.end():])
    return _inline(_BULLET.sub(lambda m: f"{m.group(1)}• ", line))


def _inline(line: str) -> str:
    parts: list[str] = []
    position = 0
    for span in _CODE_SPAN.finditer(line):
        parts.append(_format(line[position:span.start()]))
        parts.append(f"`{code_escape(span.group(2))}`")
        position = span.end()
    parts.append(_format(line[position:]))
    return "".join(parts)


def _link(label: str, url: str) -> str:
    """`<url|label>`; a label that itself looks like an address shows the real one, so no link is disguised."""
    url = url.replace("&", "&amp;")
    return f"<{url}>" if _LOOKS_LIKE_ADDRESS.search(label) else f"<{url}|{escape(label)}>"


def _format(text: str) -> str:
    links: list[str] = []

    def keep_link(match: re.Match[str]) -> str:
        links.append(_link(match.group(1), match.group(2)))
        return f"\x01{len(links) - 1}\x01"

    text = _LINK.sub(keep_link, text.replace("\x01", ""))
    text = escape(text)
    text = _BOLD_ITALIC.sub(lambda m: f"{_STRONG}_{m.group(1)}_{_STRONG}", text)
    text = _BOLD.sub(lambda m: f"{_STRONG}{m.group(1) or m.group(2)}{_STRONG}", text)
    text = _ITALIC.sub(lambda m: f"_{m.group(1)}_", text)
    text = _STRIKE.sub(lambda m: f"~{m.group(1)}~", text)
    text = text.replace(_STRONG, "*")
    return re.sub("\x01(\\d+)\x01", lambda m: links[int(m.group(1))], text)


def split_mrkdwn(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Chunks of at most `limit` characters, cut at line breaks where possible, code fences closed and reopened."""
    room = limit - 2 * (len(_FENCE) + 1)
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    in_code = False
    opened_in_code = False

    def flush() -> None:
        nonlocal current, size, opened_in_code
        if opened_in_code and current and current[0] == _FENCE:
            current, opened_in_code = current[1:], False  # the cut fell just before a closing fence
        if not current:
            return
        body = "\n".join(current)
        if opened_in_code:
            body = f"{_FENCE}\n{body}"
        if in_code:
            body = f"{body}\n{_FENCE}"
        if body.strip():
            chunks.append(body)
        current, size, opened_in_code = [], 0, in_code

    for line in text.split("\n"):
        pieces = [line[i:i + room] for i in range(0, len(line), room)] or [""]
        for piece in pieces:
            if current and size + len(piece) + 1 > room:
                flush()
            current.append(piece)
            size += len(piece) + 1
            if piece == _FENCE:
                in_code = not in_code
    flush()
    return chunks or [""]


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn text object Slack takes literally (no automatic mentions or channel links)."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _section(text: str, block_id: str) -> Block:
    return {"type": "section", "block_id": block_id, "text": mrkdwn(text)}


def _context(text: str, block_id: str) -> Block:
    return {"type": "context", "block_id": block_id, "elements": [mrkdwn(_cap(text, CONTEXT_LIMIT))]}


def button_element(button: Button, action_id: str) -> dict[str, Any] | None:
    """A Block Kit button whose value is the core's action id; None if the id cannot fit."""
    if not button.id or len(button.id) > VALUE_LIMIT:
        return None
    element: dict[str, Any] = {
        "type": "button", "action_id": action_id, "value": button.id,
        "text": {"type": "plain_text", "text": plain(button.label or button.id, LABEL_LIMIT), "emoji": True},
    }
    if button.style in ("primary", "danger"):
        element["style"] = button.style
    return element


def actions_blocks(buttons: Sequence[Button], block_id: str) -> list[Block]:
    """Buttons in actions blocks of at most 25, each action_id unique in its block."""
    elements = [e for n, b in enumerate(buttons) if (e := button_element(b, f"{ACTION_ID_PREFIX}{n}"))]
    blocks = []
    for n in range(0, min(len(elements), BUTTONS_PER_BLOCK * MAX_ACTION_BLOCKS), BUTTONS_PER_BLOCK):
        blocks.append({"type": "actions", "block_id": f"{block_id}{n // BUTTONS_PER_BLOCK}",
                       "elements": elements[n:n + BUTTONS_PER_BLOCK]})
    return blocks


# Replies whose buttons are a list to pick one from, shown as a select menu rather than a wall of buttons.
SELECT_KINDS = {"quiz_topics": "Pick a topic"}
SELECT_OPTIONS_LIMIT = 100


def select_block(buttons: Sequence[Button], placeholder: str, block_id: str) -> Block:
    """A static select whose options carry the buttons' action ids, as one actions block."""
    options = [{"text": {"type": "plain_text", "text": plain(b.label or b.id, LABEL_LIMIT), "emoji": True},
                "value": b.id} for b in buttons if b.id and len(b.id) <= VALUE_LIMIT][:SELECT_OPTIONS_LIMIT]
    element = {"type": "static_select", "action_id": f"{ACTION_ID_PREFIX}select",
               "placeholder": {"type": "plain_text", "text": placeholder}, "options": options}
    return {"type": "actions", "block_id": block_id, "elements": [element]}


def message_block_id(message_id: str, part: str) -> str:
    """A block id that names the reply a message shows, so a button press can say which reply it came from."""
    return f"{BLOCK_ID_PREFIX}{message_id}:{part}"[:BLOCK_ID_LIMIT]


def reply_id_of_block(block_id: str | None) -> str | None:
    """The reply id a block id of ours carries, or None."""
    if not block_id or not block_id.startswith(BLOCK_ID_PREFIX):
        return None
    return block_id[len(BLOCK_ID_PREFIX):].rsplit(":", 1)[0] or None


def render_blocks(reply: Reply, *, message_id: str | None = None, preface: str | None = None,
                  image_note: str | None = None) -> list[Block]:
    """A reply as at most 50 blocks: preface, header, text sections, fields, citation, images note, buttons."""
    key = message_id or reply.edits or reply.id
    head: list[Block] = []
    if preface:
        head.append(_context(preface, message_block_id(key, "p")))
    if reply.title:
        head.append({"type": "header", "block_id": message_block_id(key, "h"),
                     "text": {"type": "plain_text", "text": plain(reply.title, HEADER_LIMIT), "emoji": True}})
    body = [_section(chunk, message_block_id(key, f"s{n}"))
            for n, chunk in enumerate(split_mrkdwn(to_mrkdwn(reply.text))) if chunk.strip()]
    body += _field_sections(reply.fields, key)
    tail: list[Block] = []
    notes = []
    if reply.citation:
        notes.append(f"Source: {escape(reply.citation)}")
    if reply.docs:
        links = (f"<{url.replace('&', '&amp;')}|{escape(label)}>" for label, url in reply.docs)
        notes.append("Docs: " + ", ".join(links))
    if image_note:
        notes.append(image_note)
    if notes:
        tail.append(_context("  ·  ".join(notes), message_block_id(key, "c")))
    if reply.kind in SELECT_KINDS and reply.buttons:
        tail.append(select_block(reply.buttons, SELECT_KINDS[reply.kind], message_block_id(key, "a0")))
    else:
        tail += actions_blocks(reply.buttons, message_block_id(key, "a"))
    room = MAX_BLOCKS - len(head) - len(tail)
    if len(body) > room:
        body = body[: max(room - 1, 0)] + [_context("_(cut short: the message was too long for Slack)_",
                                                    message_block_id(key, "t"))]
    return head + body + tail


def _field_sections(fields: Iterable[tuple[str, str]], key: str) -> list[Block]:
    texts = [_cap(f"*{escape(name)}*\n{escape(value)}", FIELD_LIMIT) for name, value in fields]
    return [{"type": "section", "block_id": message_block_id(key, f"f{n // FIELDS_PER_SECTION}"),
             "fields": [mrkdwn(t) for t in texts[n:n + FIELDS_PER_SECTION]]}
            for n in range(0, len(texts), FIELDS_PER_SECTION)]


def fallback_text(reply: Reply) -> str:
    """The message's plain `text`: what notifications and screen readers show."""
    first = reply.text.strip().split("\n", 1)[0] if reply.text.strip() else ""
    summary = f"{reply.title}: {first}" if reply.title and first else (reply.title or first or "torchtutor")
    return _cap(escape(summary.replace("`", "")), FALLBACK_LIMIT)


def render_message(reply: Reply, *, message_id: str | None = None, preface: str | None = None,
                   image_note: str | None = None) -> dict[str, Any]:
    """The `text` and `blocks` arguments of chat.postMessage / chat.update / response_url for a reply."""
    return {"text": fallback_text(reply),
            "blocks": render_blocks(reply, message_id=message_id, preface=preface, image_note=image_note)}
