"""Cleaning what people type before it reaches the model."""

from __future__ import annotations

import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")
_SPACE = re.compile(r"\s+")
_MENTION = re.compile(r"<@[!&]?[A-Z0-9]+(?:\|[^>]*)?>", re.IGNORECASE)


def normalise_question(text: str, max_chars: int) -> tuple[str, bool]:
    """NFKC, control characters and mentions out, whitespace collapsed, capped; returns (text, truncated)."""
    text = unicodedata.normalize("NFKC", text)
    text = _MENTION.sub(" ", _CONTROL.sub(" ", text))
    text = _SPACE.sub(" ", text).strip()
    if len(text) <= max_chars:
        return text, False
    return text[:max_chars].rsplit(" ", 1)[0] or text[:max_chars], True


def has_words(text: str, minimum_letters: int = 2) -> bool:
    """Whether the text holds enough letters or digits (in any script) to be a question."""
    return sum(1 for ch in text if ch.isalnum()) >= minimum_letters


def chat_escape(text: str) -> str:
    """Neutralise mass mentions in text the bot echoes (@everyone, @here, <!channel>)."""
    text = re.sub(r"@(everyone|here|channel)", "@\u200b\\1", text, flags=re.IGNORECASE)
    return text.replace("<!", "<\u200b!")


_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_LINK = re.compile(r"\[([^\]\n]+)\]\([^)\s]+\)")
_EMPHASIS = (
    re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*"),
    re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"),
    re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])"),
    re.compile(r"(?<!\w)_(?=[^\s_])(.+?)(?<=[^\s_])_(?!\w)"),
)
_BLOCK_MARK = re.compile(r"^\s*(?:#{1,6}\s+|>\s*|[-*+]\s+)")


def plain_text(text: str) -> str:
    """Markdown as the plain text a reader sees, for places it does not render (button labels).

    `code`, **bold**, _italic_, ~~strike~~, [links](url) and heading, quote and bullet marks are unwrapped and
    whitespace collapsed. Code spans keep their content verbatim; snake_case, __init__ and `a * b` stay."""
    parts: list[str] = []
    last = 0
    for match in _CODE_SPAN.finditer(text):
        parts.append(_unmark(text[last:match.start()]))
        parts.append(match.group(2).strip())
        last = match.end()
    parts.append(_unmark(text[last:]))
    return _SPACE.sub(" ", "".join(parts)).strip()


def _unmark(text: str) -> str:
    """Markdown marks out of text that holds no code span."""
    text = "\n".join(_BLOCK_MARK.sub("", line) for line in text.split("\n"))
    text = _LINK.sub(r"\1", text)
    for pattern in _EMPHASIS:
        text = pattern.sub(r"\1", text)
    return text.replace("`", "")
