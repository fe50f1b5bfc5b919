"""Data functions of the conversation core; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Select, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db.base import utcnow
from bot.db.models import Channel, Feedback, Question, User

Row = TypeVar("Row", User, Channel, Feedback)


def clean_text(value: str, limit: int) -> str:
    """Text as every database stores it: PostgreSQL refuses NUL characters (SQLite keeps them) and enforces
    VARCHAR lengths (SQLite ignores them), so both are handled here rather than failing on one backend only."""
    return value.replace("\x00", "\ufffd")[:limit]


def _get_or_insert(session: Session, query: Select[Row], make: Callable[[], Row]) -> Row:
    """The row the query finds, or a new one; a concurrent insert of the same row is tolerated."""
    row = session.scalar(query)
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = make()
            session.add(row)
        return row
    except IntegrityError:
        return session.scalars(query).one()


def get_or_create_user(*, session: Session, platform: str, platform_user_id: str, display_name: str = "") -> User:
    """The user row for a platform identity, created on first sight; the display name kept fresh."""
    query = select(User).where(User.platform == platform, User.platform_user_id == platform_user_id)
    name = clean_text(display_name, 128)
    user = _get_or_insert(session, query, lambda: User(platform=platform, platform_user_id=platform_user_id,
                                                       display_name=name))
    if name and user.display_name != name:
        user.display_name = name
    return user


def find_user(*, session: Session, platform: str, platform_user_id: str) -> User | None:
    """The user row of a platform identity, if it exists."""
    return session.scalar(select(User).where(User.platform == platform, User.platform_user_id == platform_user_id))


def users_named(*, session: Session, platform: str, display_name: str) -> list[User]:
    """The users of a platform whose display name is this one, ignoring case."""
    return list(session.scalars(select(User).where(User.platform == platform,
                                                   func.lower(User.display_name) == display_name.lower())))


def find_channel(*, session: Session, platform: str, workspace_id: str, platform_channel_id: str) -> Channel | None:
    """The channel row of a platform channel, if it exists."""
    return session.scalar(select(Channel).where(Channel.platform == platform, Channel.workspace_id == workspace_id,
                                                Channel.platform_channel_id == platform_channel_id))


def hold_lock(*, session: Session, key: int) -> None:
    """Take a lock other processes wait on until this transaction ends (a PostgreSQL advisory lock); SQLite has
    one writer at a time already, so there the caller's own process lock is all that is needed."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def get_or_create_channel(*, session: Session, platform: str, workspace_id: str, platform_channel_id: str,
                          name: str = "") -> Channel:
    """The channel row for a platform channel, created on first sight."""
    query = select(Channel).where(Channel.platform == platform, Channel.workspace_id == workspace_id,
                                  Channel.platform_channel_id == platform_channel_id)
    return _get_or_insert(session, query, lambda: Channel(
        platform=platform, workspace_id=workspace_id, platform_channel_id=platform_channel_id,
        name=clean_text(name, 128)))


def record_question(*, session: Session, platform: str, user: User | None, channel: Channel | None, text: str,
                    entry_id: str | None, score: float, status: str, latency_ms: float) -> Question:
    """Store one question and what the bot did with it."""
    question = Question(platform=platform, user_id=user.id if user else None,
                        channel_id=channel.id if channel else None, text=clean_text(text, 10_000), entry_id=entry_id,
                        score=score, status=status, latency_ms=latency_ms)
    session.add(question)
    session.flush()
    return question


def record_feedback(*, session: Session, question_id: int, user: User, vote: int) -> Feedback | None:
    """Store or change a person's vote on an answer (one row per person and answer, an upsert, so a retried
    write lands once); None when the question is unknown."""
    if session.get(Question, question_id) is None:
        return None
    statement = _dialect_insert(session, Feedback).values(question_id=question_id, user_id=user.id, vote=vote,
                                                          created_at=utcnow())
    session.execute(statement.on_conflict_do_update(index_elements=["question_id", "user_id"],
                                                    set_={"vote": statement.excluded.vote}))
    return session.scalars(select(Feedback).where(Feedback.question_id == question_id,
                                                  Feedback.user_id == user.id)).one()


def question_place(*, session: Session, question_id: int) -> tuple[str, str, str] | None:
    """(platform, workspace id, platform channel id) where a stored question was asked; None when unknown."""
    row = session.execute(select(Question.platform, Channel.workspace_id, Channel.platform_channel_id)
                          .outerjoin(Channel, Channel.id == Question.channel_id)
                          .where(Question.id == question_id)).first()
    if row is None:
        return None
    return str(row[0]), str(row[1] or ""), str(row[2] or "")


def find_question(*, session: Session, question_id: int) -> Question | None:
    """A stored question, if it exists."""
    return session.get(Question, question_id)


def question_asker(*, session: Session, question_id: int) -> tuple[str, str] | None:
    """(platform, platform user id) of who asked a stored question; None when unknown."""
    row = session.execute(select(User.platform, User.platform_user_id).join(Question, Question.user_id == User.id)
                          .where(Question.id == question_id)).first()
    return None if row is None else (str(row[0]), str(row[1]))


def record_question_once(*, session: Session, row: dict[str, object]) -> None:
    """Store one question (keys as `record_questions`', with a `client_id`) unless it is stored already."""
    values = {**row, "text": clean_text(str(row["text"]), 10_000)}
    session.execute(_dialect_insert(session, Question).values(**values)
                    .on_conflict_do_nothing(index_elements=["client_id"]))


def _dialect_insert(session: Session, table: type[Question] | type[Feedback]) -> Any:
    """An INSERT that can say ON CONFLICT, in the bound database's dialect (both speak it the same way)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def record_questions(*, session: Session, rows: list[dict[str, object]]) -> list[int]:
    """Store many questions in one statement (keys as `record_question`'s, with user_id and channel_id); their ids,
    in order."""
    if not rows:
        return []
    values = [{**row, "text": clean_text(str(row["text"]), 10_000)} for row in rows]
    statement = insert(Question).returning(Question.id, sort_by_parameter_order=True)
    return [int(i) for i in session.scalars(statement, values)]
