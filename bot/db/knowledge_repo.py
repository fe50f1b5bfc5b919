"""Data functions for admin-edited knowledge entries, their versions and knowledge gaps; the caller owns the
transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from bot.db.base import utcnow
from bot.db.knowledge_models import KnowledgeGapMark
from bot.db.models import Feedback, KnowledgeEntry, KnowledgeEntryVersion, Question

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


def gap_candidates(*, session: Session, low_score: float, since: datetime | None = None,
                   until: datetime | None = None, platform: str | None = None, limit: int = 5000
                   ) -> list[tuple[Question, int]]:
    """Questions that show a gap, newest first, with their number of 👎 votes: declined, answered with a score
    below `low_score`, or voted down; questions already dismissed or resolved are left out. Optionally only those
    asked from `since` to before `until`, on one platform."""
    downvotes = (select(Feedback.question_id, func.count().label("votes")).where(Feedback.vote < 0)
                 .group_by(Feedback.question_id).subquery())
    query = (
        select(Question, func.coalesce(downvotes.c.votes, 0))
        .outerjoin(downvotes, downvotes.c.question_id == Question.id)
        .outerjoin(KnowledgeGapMark, KnowledgeGapMark.question_id == Question.id)
        .where(KnowledgeGapMark.question_id.is_(None))
        .where(or_(Question.status == "no_match", and_(Question.status == "answered", Question.score < low_score),
                   downvotes.c.votes > 0))
        .order_by(Question.created_at.desc(), Question.id.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(Question.created_at >= since)
    if until is not None:
        query = query.where(Question.created_at < until)
    if platform:
        query = query.where(Question.platform == platform)
    return [(question, int(votes)) for question, votes in session.execute(query)]


def mark_gap_questions(*, session: Session, question_ids: Sequence[int], status: str, marked_by: str,
                       note: str = "") -> int:
    """Take questions off the gaps list as `dismissed` or `resolved`; how many were newly marked."""
    existing = set(session.scalars(select(KnowledgeGapMark.question_id)
                                   .where(KnowledgeGapMark.question_id.in_(list(question_ids)))))
    now = utcnow()
    fresh = [qid for qid in dict.fromkeys(question_ids) if qid not in existing]
    session.add_all(KnowledgeGapMark(question_id=qid, status=status, marked_by=marked_by, note=note, marked_at=now)
                    for qid in fresh)
    session.flush()
    return len(fresh)
