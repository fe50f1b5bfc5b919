"""Admins adding, editing and removing knowledge entries; every save is kept as a version with who made it.

Platform-neutral and synchronous (each call is one database transaction): the CLI calls it directly, the
dashboard through `asyncio.to_thread`. Entries live in two places: the knowledge documents (read-only here)
and the `knowledge_entries` table, whose rows add entries or override a document entry with the same id;
a deleted row hides one. Editing or deleting a document entry therefore stores an override, never touches
the file. After a save, `on_change` (the knowledge service's `refresh`) rebuilds this process's index at once;
other processes notice within their poll interval.

    admin = runtime.knowledge_admin
    version = admin.add(EntryDraft.from_form(question="What is a tensor?", answer="..."), by="alice")
    admin.edit(version.entry_id, by="bob", answer="...", expected_version=version.version)
    admin.history(version.entry_id)   # newest first, each with changed_by and changed_at
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError

from bot.core.answering.knowledge import entry_from_row
from bot.core.errors import BadInput, NotFound, TorchtutorError
from bot.db import knowledge_repo
from bot.db.engine import Database
from bot.db.models import KnowledgeEntry, KnowledgeEntryVersion
from knowledge.entries import Entry, slugify
from knowledge.loader import MAX_ANSWER_CHARS

MAX_QUESTION_CHARS = 500
MAX_ALIASES = 20
MAX_TAGS = 20
MAX_BY_CHARS = 128
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")
_TAG = re.compile(r"^[a-z0-9][a-z0-9 _.+-]{0,39}$")


class EditConflict(TorchtutorError):
    """Someone saved the entry after the editor loaded it."""

    def __init__(self, entry_id: str, version: int) -> None:
        self.entry_id, self.version = entry_id, version
        super().__init__(f"Someone else saved {entry_id} meanwhile (now version {version}). "
                         "Reload it, then apply your change again.")


@dataclass(frozen=True)
class EntryDraft:
    """An entry's content as an admin wrote it, checked: question, answer, other phrasings, tags, demo."""

    question: str
    answer: str
    aliases: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    demo: str | None = None

    @classmethod
    def create(cls, *, question: str, answer: str, aliases: Sequence[str] = (), tags: Sequence[str] = (),
               demo: str | None = None) -> EntryDraft:
        """A checked draft; BadInput naming the first problem."""
        question = " ".join(question.split())
        answer = answer.replace("\r\n", "\n").strip()
        alias_list = tuple(dict.fromkeys(" ".join(a.split()) for a in aliases if a.strip()))
        tag_list = tuple(dict.fromkeys(t.strip().lower() for t in tags if t.strip()))
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
        return cls(question, answer, alias_list, tag_list, _demo_name(demo or ""))

    @classmethod
    def from_form(cls, *, question: str, answer: str, aliases: str = "", tags: str = "", demo: str = "") -> EntryDraft:
        """A draft from form fields: other phrasings one per line (or `|`-separated), tags comma-separated."""
        return cls.create(question=question, answer=answer, aliases=re.split(r"\n|\|", aliases),
                          tags=tags.split(","), demo=demo)

    @classmethod
    def from_entry(cls, entry: Entry) -> EntryDraft:
        """The content of an existing entry, unchecked."""
        return cls(entry.question, entry.answer, tuple(entry.aliases), tuple(entry.tags), entry.demo)


@dataclass(frozen=True)
class EntryVersion:
    """One saved version of an entry: its content, whether it deleted the entry, who saved it and when."""

    entry_id: str
    version: int
    question: str
    answer: str
    aliases: tuple[str, ...]
    tags: tuple[str, ...]
    demo: str | None
    deleted: bool
    changed_by: str
    changed_at: datetime

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (`changed_at` in ISO 8601)."""
        return {"entry_id": self.entry_id, "version": self.version, "question": self.question,
                "answer": self.answer, "aliases": list(self.aliases), "tags": list(self.tags), "demo": self.demo,
                "deleted": self.deleted, "changed_by": self.changed_by, "changed_at": self.changed_at.isoformat()}


Source = Literal["document", "database", "document+database"]


@dataclass(frozen=True)
class EntryInfo:
    """An entry as the knowledge base has it now, where it comes from and its latest stored version (0: none)."""

    entry: Entry
    source: Source
    version: int = 0
    deleted: bool = False
    updated_by: str = ""
    updated_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        e = self.entry
        return {"entry_id": e.id, "question": e.question, "answer": e.answer, "aliases": list(e.aliases),
                "tags": list(e.tags), "demo": e.demo, "source": self.source, "version": self.version,
                "deleted": self.deleted, "updated_by": self.updated_by,
                "updated_at": self.updated_at.isoformat() if self.updated_at else None}


_UNCHANGED: Any = object()


class KnowledgeAdmin:
    """The admin use cases over knowledge entries: add, edit, delete, revert, history, list."""

    def __init__(self, database: Database, documents: Callable[[], Sequence[Entry]],
                 on_change: Callable[[], object] | None = None) -> None:
        self._database = database
        self._documents = documents
        self.on_change = on_change  # a server may swap in a background reindex, so saves return at once

    def add(self, draft: EntryDraft, *, by: str, entry_id: str | None = None) -> EntryVersion:
        """Store a new entry; its id is the question's slug (numbered if taken) unless given."""
        by = _who(by)
        documents = {entry.id for entry in self._documents()}
        with self._database.transaction() as session:
            rows = {row.id: row for row in knowledge_repo.entry_rows(session=session)}
            live = (documents | set(rows)) - {i for i, row in rows.items() if row.deleted}
            if entry_id is None:
                entry_id = _free_id(slugify(draft.question), documents | set(rows))
            else:
                entry_id = _checked_id(entry_id)
                if entry_id in live:
                    raise BadInput(f"There is already an entry {entry_id}; edit it instead.")
            row = self._save(session, entry_id, draft, deleted=False, by=by)
            version = _version_of(row)
        self._changed()
        return version

    def save(self, entry_id: str, draft: EntryDraft, *, by: str, expected_version: int | None = None
             ) -> EntryVersion:
        """Replace an entry's content (a document entry gets a stored override); NotFound for an unknown id.

        `expected_version` is the stored version the editor showed (0 for a document entry never edited);
        EditConflict when someone saved in between.
        """
        by = _who(by)
        with self._database.transaction() as session:
            self._current(session, entry_id, expected_version)
            row = self._save(session, entry_id, draft, deleted=False, by=by)
            version = _version_of(row)
        self._changed()
        return version

    def edit(self, entry_id: str, *, by: str, question: str | None = None, answer: str | None = None,
             aliases: Sequence[str] | None = None, tags: Sequence[str] | None = None, demo: Any = _UNCHANGED,
             expected_version: int | None = None) -> EntryVersion:
        """Change some fields of an entry, keeping the others; `demo=None` removes the demo."""
        by = _who(by)
        with self._database.transaction() as session:
            current = self._current(session, entry_id, expected_version)
            draft = EntryDraft.create(
                question=current.question if question is None else question,
                answer=current.answer if answer is None else answer,
                aliases=current.aliases if aliases is None else aliases,
                tags=current.tags if tags is None else tags,
                demo=current.demo if demo is _UNCHANGED else demo,
            )
            row = self._save(session, entry_id, draft, deleted=False, by=by)
            version = _version_of(row)
        self._changed()
        return version

    def delete(self, entry_id: str, *, by: str, expected_version: int | None = None) -> EntryVersion:
        """Take an entry out of the knowledge base; its history stays, and `revert` brings it back."""
        by = _who(by)
        with self._database.transaction() as session:
            current = self._current(session, entry_id, expected_version)
            row = self._save(session, entry_id, current, deleted=True, by=by)
            version = _version_of(row)
        self._changed()
        return version

    def revert(self, entry_id: str, version: int, *, by: str) -> EntryVersion:
        """Save an earlier version's content as the newest version (undeleting the entry if need be)."""
        by = _who(by)
        with self._database.transaction() as session:
            old = knowledge_repo.entry_version(session=session, entry_id=entry_id, version=version)
            if old is None:
                raise NotFound(f"Entry {entry_id} has no version {version}.")
            draft = EntryDraft(old.question, old.answer, tuple(old.aliases or ()), tuple(old.tags or ()), old.demo)
            row = self._save(session, entry_id, draft, deleted=False, by=by)
            saved = _version_of(row)
        self._changed()
        return saved

    def history(self, entry_id: str) -> list[EntryVersion]:
        """Every stored version of an entry, newest first; empty for a document entry never edited."""
        with self._database.session() as session:
            versions = knowledge_repo.entry_versions(session=session, entry_id=entry_id)
            if not versions and entry_id not in {e.id for e in self._documents()}:
                raise NotFound(f"There is no entry {entry_id}.")
            return [_version_from_row(v) for v in versions]

    def get(self, entry_id: str) -> EntryInfo | None:
        """An entry with its source and latest version, deleted ones included; None when unknown."""
        return next((info for info in self.list(include_deleted=True) if info.entry.id == entry_id), None)

    def list(self, *, include_deleted: bool = False) -> list[EntryInfo]:
        """Every entry: document entries in document order, then entries only stored in the database."""
        documents = {entry.id: entry for entry in self._documents()}
        with self._database.session() as session:
            rows = {row.id: row for row in knowledge_repo.entry_rows(session=session)}
        infos = []
        for entry_id in [*documents, *(i for i in rows if i not in documents)]:
            row = rows.get(entry_id)
            if row is None:
                infos.append(EntryInfo(documents[entry_id], "document"))
                continue
            if row.deleted and not include_deleted:
                continue
            source: Source = "document+database" if entry_id in documents else "database"
            infos.append(EntryInfo(entry_from_row(row), source, row.version, row.deleted, row.updated_by,
                                   row.updated_at))
        return infos

    def _current(self, session: Any, entry_id: str, expected_version: int | None) -> EntryDraft:
        """The live content of an entry, after checking the version the editor saw."""
        row = knowledge_repo.entry_row(session=session, entry_id=entry_id)
        stored = row.version if row is not None else 0
        if expected_version is not None and expected_version != stored:
            raise EditConflict(entry_id, stored)
        if row is not None and not row.deleted:
            return EntryDraft(row.question, row.answer, tuple(row.aliases or ()), tuple(row.tags or ()), row.demo)
        document = next((e for e in self._documents() if e.id == entry_id), None)
        if document is None or row is not None:  # unknown, or deleted (revert it to bring it back)
            raise NotFound(f"There is no entry {entry_id}.")
        return EntryDraft.from_entry(document)

    def _save(self, session: Any, entry_id: str, draft: EntryDraft, *, deleted: bool, by: str) -> KnowledgeEntry:
        try:
            with session.begin_nested():
                return knowledge_repo.save_entry_version(
                    session=session, entry_id=entry_id, question=draft.question, answer=draft.answer,
                    aliases=draft.aliases, tags=draft.tags, demo=draft.demo, deleted=deleted, changed_by=by)
        except IntegrityError:  # another process saved the same version number first
            session.expire_all()
            row = knowledge_repo.entry_row(session=session, entry_id=entry_id)
            raise EditConflict(entry_id, row.version if row else 0) from None

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()


def _who(by: str) -> str:
    by = " ".join((by or "").split())
    if not by:
        raise BadInput("Say who is making the change.")
    return by[:MAX_BY_CHARS]


def _checked_id(entry_id: str) -> str:
    entry_id = entry_id.strip()
    if not _ID.match(entry_id):
        raise BadInput("An entry id is lower-case letters, digits and dashes, up to 128 characters.")
    return entry_id


def _free_id(base: str, taken: set[str]) -> str:
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _demo_name(demo: str) -> str | None:
    demo = demo.strip()
    if not demo:
        return None
    from workers.demos import get_demo, list_demos
    from workers.errors import UnknownDemo

    try:
        return get_demo(demo).name
    except UnknownDemo:
        known = ", ".join(d.name for d in list_demos())
        raise BadInput(f"There is no demo {demo!r}; known: {known}.") from None


def _version_of(row: KnowledgeEntry) -> EntryVersion:
    return EntryVersion(row.id, row.version, row.question, row.answer, tuple(row.aliases or ()),
                        tuple(row.tags or ()), row.demo, row.deleted, row.updated_by, row.updated_at)


def _version_from_row(row: KnowledgeEntryVersion) -> EntryVersion:
    return EntryVersion(row.entry_id, row.version, row.question, row.answer, tuple(row.aliases or ()),
                        tuple(row.tags or ()), row.demo, row.deleted, row.changed_by, row.changed_at)

