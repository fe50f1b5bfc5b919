"""The knowledge entry: one question with its answer, as every part of torchtutor sees it."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

_NUMBER_PREFIX = re.compile(r"^\s*(?:q(?:uestion)?\s*)?\d+(?:\.\d+)*\s*[.):\-]\s*", re.IGNORECASE)
_NON_WORD = re.compile(r"[^a-z0-9]+")


def slugify(question: str, max_length: int = 80) -> str:
    """A stable id for a question: lower-case words joined by dashes, numbering and markup ignored."""
    text = unicodedata.normalize("NFKD", question)
    text = text.encode("ascii", "ignore").decode("ascii").lower()
    text = _NUMBER_PREFIX.sub("", text)
    slug = _NON_WORD.sub("-", text).strip("-")
    if len(slug) > max_length:
        slug = slug[:max_length].rsplit("-", 1)[0]
    return slug or "entry"


@dataclass(frozen=True)
class Entry:
    """A question and its answer, with the phrasings and tags that help find it."""

    id: str
    question: str
    answer: str
    aliases: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    demo: str | None = None
    source: str = ""
    docs: tuple[str, ...] = ()  # PyTorch documentation it relies on: API names or `notes/<page>` (knowledge.docs_links)
    position: int = 0
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def texts(self) -> list[str]:
        """The phrasings a question is matched against: the question first, then its aliases."""
        return [self.question, *self.aliases]
