"""Admins adding, editing and removing knowledge entries, every save kept as a version.

Rows in `knowledge_entries` override the document entry with the same id (see bot.core.answering.knowledge). A stand-in
until `bot.core.admin.entries` (issue 4) lands; the dashboard reaches it only through
`bot.web.dashboard.sources`, so swapping it out is local. The caller owns the transaction and, after it commits,
asks the knowledge service to reload.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.errors import BadInput, NotFound, TorchtutorError
from bot.db.base import utcnow
from bot.db.models import KnowledgeEntry, KnowledgeEntryVersion
from knowledge.entries import Entry, slugify
from knowledge.loader import MAX_ANSWER_CHARS

MAX_QUESTION_CHARS = 500
MAX_ALIASES = 20
MAX_TAGS = 20
_TAG = re.compile(r"^[a-z0-9][a-z0-9 _.+-]{0,39}$")


class EditConflict(TorchtutorError):
    """Someone saved the entry after this form was opened."""

    def __init__(self, entry_id: str, version: int) -> None:
        self.entry_id, self.version = entry_id, version
        super().__init__(f"Someone else saved {entry_id} meanwhile (now version {version}). "
                         "Reload it, then apply your change again.")


@dataclass(frozen=True)
class EntryDraft:
    """What an admin typed into the entry form, checked."""

    question: str
    answer: str
    aliases: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    demo: str | None = None

    @classmethod
    def from_form(cls, *, question: str, answer: str, aliases: str = "", tags: str = "", demo: str = "") -> EntryDraft:
        """Aliases one per line, tags separated by commas; BadInput naming the first problem."""
        question = " ".join(question.split())
        answer = answer.replace("\r\n", "\n").strip()
        alias_list = tuple(dict.fromkeys(" ".join(a.split()) for a in aliases.splitlines() if a.strip()))
        tag_list = tuple(dict.fromkeys(t.strip().lower() for t in tags.split(",") if t.strip()))
        if not 3 <= len(question) <= MAX_QUESTION_CHARS:
            raise BadInput(f"The question needs 3 to {MAX_QUESTION_CHARS} characters.")
        if not answer:
            raise BadInput("The answer is empty.")
        if len(answer) > MAX_ANSWER_CHARS:
            raise BadInput(f"The answer is longer than {MAX_ANSWER_CHARS} characters.")
        if len(alias_list) > MAX_ALIASES or any(len(a) > MAX_QUESTION_CHARS for a in alias_list):
            raise BadInput(f"At most {MAX_ALIASES} other phrasings, each up to {MAX_QUESTION_CHARS} characters.")
        bad_tags = [t for t in tag_list if not _TAG.match(t)]
        if len(tag_list) > MAX_TAGS or bad_tags:
            raise BadInput(f"Tags are up to 40 letters, digits, spaces or _ . + - each, at most {MAX_TAGS}"
                           + (f" (not {bad_tags[0]!r})." if bad_tags else "."))
        return cls(question, answer, alias_list, tag_list, _demo_name(demo))

    @classmethod
    def from_entry(cls, entry: Entry) -> EntryDraft:
        return cls(entry.question, entry.answer, tuple(entry.aliases), tuple(entry.tags), entry.demo)


def _demo_name(demo: str) -> str | None:
    demo = demo.strip()
    if not demo:
        return None
    from workers.demos import get_demo
    from workers.errors import UnknownDemo

    try:
        return get_demo(demo).name
    except UnknownDemo:
        from workers.demos import list_demos

        raise BadInput(f"There is no demo {demo!r}; known: {', '.join(d.name for d in list_demos())}.") from None


def new_entry_id(question: str, taken: Collection[str]) -> str:
    """A stable id for a new entry: the question's slug, numbered when another entry has it."""
    base = slugify(question)
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def save_entry(*, session: Session, entry_id: str, draft: EntryDraft, author: str,
               expected_version: int | None = None) -> KnowledgeEntry:
    """Create or update the stored entry and record the new version.

    `expected_version` is the version the form showed (0 for an entry not stored yet); EditConflict when it moved.
    """
    row = session.get(KnowledgeEntry, entry_id, with_for_update=True)
    current = row.version if row is not None else 0
    if expected_version is not None and expected_version != current:
        raise EditConflict(entry_id, current)
    if row is None:
        row = KnowledgeEntry(id=entry_id, version=0)
        session.add(row)
    row.question, row.answer, row.demo = draft.question, draft.answer, draft.demo
    row.aliases, row.tags = list(draft.aliases), list(draft.tags)
    row.deleted = False
    return _new_version(session, row, author)


def delete_entry(*, session: Session, entry_id: str, author: str, document_entry: Entry | None = None,
                 expected_version: int | None = None) -> KnowledgeEntry:
    """Take an entry out of the knowledge base (a document entry is hidden by a deleted override)."""
    row = session.get(KnowledgeEntry, entry_id, with_for_update=True)
    if row is None:
        if document_entry is None:
            raise NotFound(f"There is no entry {entry_id}.")
        row = save_entry(session=session, entry_id=entry_id, draft=EntryDraft.from_entry(document_entry),
                         author=author, expected_version=expected_version)
    elif expected_version is not None and expected_version != row.version:
        raise EditConflict(entry_id, row.version)
    row.deleted = True
    return _new_version(session, row, author)


def _new_version(session: Session, row: KnowledgeEntry, author: str) -> KnowledgeEntry:
    row.version += 1
    row.updated_by, row.updated_at = author, utcnow()
    session.add(KnowledgeEntryVersion(entry_id=row.id, version=row.version, question=row.question, answer=row.answer,
                                      aliases=list(row.aliases), tags=list(row.tags), demo=row.demo,
                                      deleted=row.deleted, changed_by=author, changed_at=row.updated_at))
    session.flush()
    return row


def stored_entry(*, session: Session, entry_id: str) -> KnowledgeEntry | None:
    """The admin row for an id, deleted or not."""
    return session.get(KnowledgeEntry, entry_id)


def stored_entries(*, session: Session) -> list[KnowledgeEntry]:
    """Every admin row, newest change first."""
    return list(session.scalars(select(KnowledgeEntry).order_by(KnowledgeEntry.updated_at.desc())))


def entry_history(*, session: Session, entry_id: str) -> list[KnowledgeEntryVersion]:
    """Every saved version of an entry, newest first."""
    return list(session.scalars(select(KnowledgeEntryVersion).where(KnowledgeEntryVersion.entry_id == entry_id)
                                .order_by(KnowledgeEntryVersion.version.desc())))
