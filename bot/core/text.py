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
