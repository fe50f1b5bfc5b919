"""Data functions for admin-edited knowledge entries and their versions; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.db.base import utcnow
from bot.db.models import KnowledgeEntry, KnowledgeEntryVersion

EntriesStamp = tuple[int, datetime | None, int]


def entries_stamp(*, session: Session) -> EntriesStamp:
    """A cheap fingerprint of the entries table: (rows, newest change, sum of versions); it moves on every save."""
    count, newest, versions = session.execute(
        select(func.count(KnowledgeEntry.id), func.max(KnowledgeEntry.updated_at),
               func.coalesce(func.sum(KnowledgeEntry.version), 0))
    ).one()
    return int(count), newest, int(versions)


def entry_rows(*, session: Session) -> list[KnowledgeEntry]:
    """Every admin entry row, deleted ones included, by id."""
    return list(session.scalars(select(KnowledgeEntry).order_by(KnowledgeEntry.id)))


def entry_row(*, session: Session, entry_id: str) -> KnowledgeEntry | None:
    """The admin row of an entry id, deleted or not."""
    return session.get(KnowledgeEntry, entry_id)


def save_entry_version(*, session: Session, entry_id: str, question: str, answer: str, aliases: Sequence[str],
                       tags: Sequence[str], demo: str | None, deleted: bool, changed_by: str) -> KnowledgeEntry:
    """Write the entry's new state and record it as the next version, with who saved it and when."""
    row = session.get(KnowledgeEntry, entry_id)
    if row is None:
        row = KnowledgeEntry(id=entry_id, version=0)
        session.add(row)
    now = utcnow()
    row.question, row.answer, row.demo, row.deleted = question, answer, demo, deleted
    row.aliases, row.tags = list(aliases), list(tags)
    row.version = (row.version or 0) + 1
    row.updated_by, row.updated_at = changed_by, now
    session.add(KnowledgeEntryVersion(entry_id=entry_id, version=row.version, question=question, answer=answer,
                                      aliases=list(aliases), tags=list(tags), demo=demo, deleted=deleted,
                                      changed_by=changed_by, changed_at=now))
    session.flush()
    return row


def entry_versions(*, session: Session, entry_id: str) -> list[KnowledgeEntryVersion]:
    """Every saved version of an entry, newest first."""
    query = (select(KnowledgeEntryVersion).where(KnowledgeEntryVersion.entry_id == entry_id)
             .order_by(KnowledgeEntryVersion.version.desc()))
    return list(session.scalars(query))


def entry_version(*, session: Session, entry_id: str, version: int) -> KnowledgeEntryVersion | None:
    """One saved version of an entry."""
    query = select(KnowledgeEntryVersion).where(KnowledgeEntryVersion.entry_id == entry_id,
                                                KnowledgeEntryVersion.version == version)
    return session.scalar(query)
