"""Data functions of quizzes, reviews and study channels; the caller owns the transaction.

The compare-and-set updates here (`open_slot`, `close_round_question`, `claim_schedule`) are what keep
answers and scheduled questions exactly-once across threads and processes, on SQLite and PostgreSQL alike:
each is one UPDATE whose WHERE clause restates what the caller saw, and only a rowcount of 1 lets it go on.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, false, func, inspect, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db.base import count_if, rowcount
from bot.db.models import Channel, User
from bot.db.quiz_models import (
    ABANDONED,
    ACTIVE,
    FINISHED,
    PERSONAL,
    REVIEW,
    ROUND_MODES,
    QuizAttempt,
    QuizPrompt,
    QuizSession,
    ReviewState,
    StudySchedule,
)

# --- sessions -----------------------------------------------------------------------------------------------


def create_session(*, session: Session, mode: str, channel: Channel, owner: User | None, item_ids: Sequence[str],
                   topic: str | None, ephemeral: bool, now: datetime, window_seconds: int | None = None,
                   schedule_id: int | None = None,
                   choice_orders: Sequence[list[int] | None] | None = None) -> QuizSession:
    """A new active session; a channel round also takes the channel's live key (IntegrityError if one is open)."""
    window_ends = now + _seconds(window_seconds) if window_seconds else None
    row = QuizSession(mode=mode, state=ACTIVE, owner_id=owner.id if owner else None, channel_id=channel.id,
                      schedule_id=schedule_id, topic=topic, item_ids=list(item_ids), current_index=0, answers=0,
                      choice_orders=list(choice_orders) if choice_orders is not None else None,
                      ephemeral=ephemeral, window_seconds=window_seconds,
                      question_started_at=now if window_seconds else None, window_ends_at=window_ends,
                      live_key=live_key(mode, channel.id) if mode in ROUND_MODES else None,
                      created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    return row


def detached_copy(quiz: QuizSession, **changes: Any) -> QuizSession:
    """A copy of a session's values that no database session tracks, to keep in memory (`changes` applied)."""
    values = {column.key: getattr(quiz, column.key) for column in inspect(QuizSession).column_attrs}
    return QuizSession(**{**values, **changes})


def live_key(mode: str, channel_id: int) -> str:
    """The key an open round of this mode holds in its channel."""
    return f"{mode}:{channel_id}"


def get_session(*, session: Session, session_id: int) -> QuizSession | None:
    """The session with this id, read fresh from the database."""
    return session.get(QuizSession, session_id, populate_existing=True)


def open_round(*, session: Session, channel_id: int, mode: str) -> QuizSession | None:
    """The channel's open round of this mode, if any."""
    return session.scalar(select(QuizSession).where(QuizSession.live_key == live_key(mode, channel_id)))


def abandon_personal_sessions(*, session: Session, owner_id: int, channel_id: int, now: datetime) -> int:
    """Close the person's unfinished quizzes and reviews in this channel (a new one replaces them)."""
    result = session.execute(
        update(QuizSession)
        .where(QuizSession.owner_id == owner_id, QuizSession.channel_id == channel_id,
               QuizSession.mode.in_((PERSONAL, REVIEW)), QuizSession.state == ACTIVE)
        .values(state=ABANDONED, updated_at=now, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)


def open_slot(*, session: Session, session_id: int, slot: int, now: datetime, advance: bool) -> bool:
    """Compare-and-set: accept one answer to `slot` if it is still the open question (and its window open).

    `advance` (personal quizzes) also moves the session to the next question; the caller finishes it after the last.
    The UPDATE takes the row's write lock, so a round's closing waits for this answer to commit and counts it.
    """
    conditions = [QuizSession.id == session_id, QuizSession.state == ACTIVE, QuizSession.current_index == slot,
                  or_(QuizSession.window_ends_at.is_(None), QuizSession.window_ends_at > now)]
    values: dict[str, Any] = {"answers": QuizSession.answers + 1, "updated_at": now}
    if advance:
        values["current_index"] = slot + 1
    result = session.execute(update(QuizSession).where(*conditions).values(**values)
                             .execution_options(synchronize_session=False))
    return rowcount(result) == 1


def finish_session(*, session: Session, session_id: int, now: datetime) -> None:
    """Mark a session finished and free its channel's live key."""
    session.execute(update(QuizSession).where(QuizSession.id == session_id, QuizSession.state == ACTIVE)
                    .values(state=FINISHED, finished_at=now, updated_at=now, live_key=None, window_ends_at=None)
                    .execution_options(synchronize_session=False))


def close_round_question(*, session: Session, session_id: int, slot: int, now: datetime, total: int,
                         window_seconds: int) -> bool:
    """Compare-and-set: close a round's question whose window has passed, opening the next or finishing.

    Exactly one caller (thread or process) gets True for a given question; only it posts the results.
    """
    last = slot + 1 >= total
    values: dict[str, Any] = {"current_index": slot + 1, "updated_at": now}
    if last:
        values.update(state=FINISHED, finished_at=now, live_key=None, window_ends_at=None)
    else:
        values.update(question_started_at=now, window_ends_at=now + _seconds(window_seconds))
    result = session.execute(
        update(QuizSession)
        .where(QuizSession.id == session_id, QuizSession.state == ACTIVE, QuizSession.current_index == slot,
               QuizSession.window_ends_at.is_not(None), QuizSession.window_ends_at <= now)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


@dataclass(frozen=True)
class DueRound:
    """A round question whose window has passed, as the scheduler saw it."""

    session_id: int
    slot: int


def due_rounds(*, session: Session, now: datetime, platforms: Collection[str]) -> list[DueRound]:
    """Open channel rounds on these platforms whose current question's window has passed."""
    rows = session.execute(
        select(QuizSession.id, QuizSession.current_index)
        .join(Channel, Channel.id == QuizSession.channel_id)
        .where(QuizSession.state == ACTIVE, QuizSession.mode.in_(ROUND_MODES),
               QuizSession.window_ends_at.is_not(None), QuizSession.window_ends_at <= now,
               reachable(platforms))
        .order_by(QuizSession.window_ends_at)
    ).all()
    return [DueRound(session_id, slot) for session_id, slot in rows]


def next_round_deadline(*, session: Session, platforms: Collection[str]) -> datetime | None:
    """When the next open round question on these platforms closes."""
    return session.scalar(
        select(func.min(QuizSession.window_ends_at))
        .join(Channel, Channel.id == QuizSession.channel_id)
        .where(QuizSession.state == ACTIVE, QuizSession.mode.in_(ROUND_MODES), reachable(platforms))
    )


# --- attempts -----------------------------------------------------------------------------------------------


def record_attempt(*, session: Session, quiz: QuizSession, slot: int, user: User, item_id: str, topic: str,
                   entry_id: str, kind: str, generated: bool, answer: str, correct: bool, score: float,
                   feedback: str, skipped: bool, now: datetime,
                   choice_order: Sequence[int] | None = None) -> QuizAttempt:
    """Store one graded answer; a second answer to the same slot by the same person raises IntegrityError."""
    attempt = QuizAttempt(session_id=quiz.id, slot=slot, user_id=user.id, channel_id=quiz.channel_id,
                          mode=quiz.mode, item_id=item_id, topic=topic, entry_id=entry_id, kind=kind,
                          generated=generated, answer=answer[:4000], skipped=skipped, correct=correct,
                          choice_order=list(choice_order) if choice_order is not None else None,
                          score=score, feedback=feedback[:4000], answered_at=now)
    session.add(attempt)
    session.flush()
    return attempt


def find_attempt(*, session: Session, session_id: int, slot: int, user_id: int) -> QuizAttempt | None:
    """This person's answer to one slot, if they gave one."""
    return session.scalar(select(QuizAttempt).where(QuizAttempt.session_id == session_id,
                                                    QuizAttempt.slot == slot, QuizAttempt.user_id == user_id))


def session_attempts(*, session: Session, session_id: int, user_id: int | None = None) -> list[QuizAttempt]:
    """A session's attempts in slot order (one person's, when given)."""
    query = select(QuizAttempt).where(QuizAttempt.session_id == session_id)
    if user_id is not None:
        query = query.where(QuizAttempt.user_id == user_id)
    return list(session.scalars(query.order_by(QuizAttempt.slot, QuizAttempt.answered_at, QuizAttempt.id)))


def slot_answers(*, session: Session, session_id: int, slot: int) -> list[tuple[QuizAttempt, User]]:
    """Everyone's answer to one slot with who gave it, in the order they came."""
    rows = session.execute(
        select(QuizAttempt, User).join(User, User.id == QuizAttempt.user_id)
        .where(QuizAttempt.session_id == session_id, QuizAttempt.slot == slot)
        .order_by(QuizAttempt.answered_at, QuizAttempt.id)
    ).all()
    return [(attempt, user) for attempt, user in rows]


@dataclass(frozen=True)
class Score:
    """One person's tally: correct answers out of attempts."""

    user_id: int
    name: str
    correct: int
    attempts: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.attempts if self.attempts else 0.0


def _scores(session: Session, *conditions: Any, limit: int | None = None) -> list[Score]:
    correct = count_if(QuizAttempt.correct.is_(True))
    query = (select(User.id, User.display_name, User.platform_user_id, correct, func.count(QuizAttempt.id),
                    func.min(QuizAttempt.answered_at))
             .join(User, User.id == QuizAttempt.user_id).where(*conditions)
             .group_by(User.id, User.display_name, User.platform_user_id))
    rows = session.execute(query).all()
    scores = [(Score(uid, name or platform_id, int(right or 0), int(count)), first)
              for uid, name, platform_id, right, count, first in rows]
    scores.sort(key=lambda pair: (-pair[0].correct, -pair[0].accuracy, pair[1], pair[0].user_id))
    ranked = [score for score, _ in scores]
    return ranked[:limit] if limit is not None else ranked


def session_scores(*, session: Session, session_id: int) -> list[Score]:
    """Everyone who answered in a session, best first."""
    return _scores(session, QuizAttempt.session_id == session_id)


def channel_ranking(*, session: Session, channel_id: int, limit: int = 10) -> list[Score]:
    """The channel's leaderboard: correct answers given in it, then accuracy, then who started first."""
    return _scores(session, QuizAttempt.channel_id == channel_id, limit=limit)


def item_history(*, session: Session, user_id: int) -> dict[str, int]:
    """How often this person has answered each item."""
    rows = session.execute(select(QuizAttempt.item_id, func.count()).where(QuizAttempt.user_id == user_id)
                           .group_by(QuizAttempt.item_id)).all()
    return {item_id: int(count) for item_id, count in rows}


def missed_items(*, session: Session, user_id: int, limit: int) -> list[str]:
    """Items this person's latest answer to was wrong or skipped, the one missed longest ago first."""
    latest = (select(func.max(QuizAttempt.id).label("id")).where(QuizAttempt.user_id == user_id)
              .group_by(QuizAttempt.item_id).subquery())
    rows = session.scalars(select(QuizAttempt.item_id).join(latest, latest.c.id == QuizAttempt.id)
                           .where(QuizAttempt.correct.is_(False)).order_by(QuizAttempt.id).limit(limit))
    return list(rows)


def recent_channel_items(*, session: Session, channel_id: int, mode: str, limit: int) -> list[str]:
    """Items recently asked in a channel's sessions of one mode, newest first (to avoid repeats)."""
    rows = session.scalars(select(QuizSession.item_ids).where(QuizSession.channel_id == channel_id,
                                                               QuizSession.mode == mode)
                           .order_by(QuizSession.id.desc()).limit(limit)).all()
    return [item for ids in rows for item in (ids or [])]


@dataclass(frozen=True)
class Totals:
    """A person's answers overall."""

    attempts: int
    correct: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.attempts if self.attempts else 0.0


def user_totals(*, session: Session, user_id: int) -> Totals:
    """Attempts and correct answers of one person."""
    correct = count_if(QuizAttempt.correct.is_(True))
    attempts, right = session.execute(select(func.count(QuizAttempt.id), correct)
                                      .where(QuizAttempt.user_id == user_id)).one()
    return Totals(int(attempts or 0), int(right or 0))


def topic_totals(*, session: Session, user_id: int) -> dict[str, Totals]:
    """Attempts and correct answers of one person per topic."""
    correct = count_if(QuizAttempt.correct.is_(True))
    rows = session.execute(select(QuizAttempt.topic, func.count(QuizAttempt.id), correct)
                           .where(QuizAttempt.user_id == user_id).group_by(QuizAttempt.topic)).all()
    return {topic: Totals(int(count), int(right or 0)) for topic, count, right in rows}


def answer_times(*, session: Session, user_id: int, since: datetime) -> list[datetime]:
    """When this person answered, since a moment (for streaks)."""
    return list(session.scalars(select(QuizAttempt.answered_at).where(QuizAttempt.user_id == user_id,
                                                                      QuizAttempt.answered_at >= since)))


# --- pending typed answers ----------------------------------------------------------------------------------


def set_prompt(*, session: Session, user_id: int, channel_id: int, session_id: int, slot: int,
               now: datetime) -> None:
    """Point this person's next typed answer in this channel at one question."""
    session.execute(delete(QuizPrompt).where(QuizPrompt.user_id == user_id, QuizPrompt.channel_id == channel_id))
    session.add(QuizPrompt(user_id=user_id, channel_id=channel_id, session_id=session_id, slot=slot, created_at=now))
    session.flush()


def get_prompt(*, session: Session, user_id: int, channel_id: int) -> QuizPrompt | None:
    """The question this person's typed answer in this channel goes to, if any."""
    return session.scalar(select(QuizPrompt).where(QuizPrompt.user_id == user_id,
                                                   QuizPrompt.channel_id == channel_id))


def clear_prompt(*, session: Session, user_id: int, channel_id: int) -> None:
    """Forget this person's pending typed answer in this channel."""
    session.execute(delete(QuizPrompt).where(QuizPrompt.user_id == user_id, QuizPrompt.channel_id == channel_id))


# --- review state -------------------------------------------------------------------------------------------


def get_review_state(*, session: Session, user_id: int, item_id: str) -> ReviewState | None:
    """This person's spaced-repetition state of one item."""
    return session.scalar(select(ReviewState).where(ReviewState.user_id == user_id, ReviewState.item_id == item_id))


def save_review_state(*, session: Session, user_id: int, item_id: str, values: dict[str, Any]) -> ReviewState:
    """Insert or update one person's state of one item (a concurrent insert of the same pair is tolerated)."""
    row = get_review_state(session=session, user_id=user_id, item_id=item_id)
    if row is None:
        try:
            with session.begin_nested():
                row = ReviewState(user_id=user_id, item_id=item_id, **values)
                session.add(row)
            return row
        except IntegrityError:
            row = get_review_state(session=session, user_id=user_id, item_id=item_id)
            assert row is not None
    for key, value in values.items():
        setattr(row, key, value)
    session.flush()
    return row


def due_reviews(*, session: Session, user_id: int, now: datetime, limit: int) -> list[ReviewState]:
    """This person's items due now, most overdue first."""
    return list(session.scalars(select(ReviewState).where(ReviewState.user_id == user_id, ReviewState.due <= now)
                                .order_by(ReviewState.due, ReviewState.id).limit(limit)))


def review_counts(*, session: Session, user_id: int, now: datetime) -> tuple[int, int, datetime | None]:
    """(items due now, items scheduled in all, when the next not-yet-due item comes due)."""
    due = session.scalar(select(func.count()).where(ReviewState.user_id == user_id, ReviewState.due <= now)) or 0
    total = session.scalar(select(func.count()).where(ReviewState.user_id == user_id)) or 0
    upcoming = session.scalar(select(func.min(ReviewState.due)).where(ReviewState.user_id == user_id,
                                                                      ReviewState.due > now))
    return int(due), int(total), upcoming


# --- study schedules ----------------------------------------------------------------------------------------


def get_schedule(*, session: Session, channel_id: int) -> StudySchedule | None:
    """The channel's study schedule (active or stopped), if it ever had one."""
    return session.scalar(select(StudySchedule).where(StudySchedule.channel_id == channel_id))


def save_schedule(*, session: Session, channel: Channel, values: dict[str, Any], now: datetime) -> StudySchedule:
    """Create or replace the channel's schedule, keeping its streak and history."""
    row = get_schedule(session=session, channel_id=channel.id)
    if row is None:
        row = StudySchedule(channel_id=channel.id, created_at=now, rounds=0, streak=0, best_streak=0)
        session.add(row)
    row.platform, row.workspace_id = channel.platform, channel.workspace_id
    row.platform_channel_id = channel.platform_channel_id
    for key, value in values.items():
        setattr(row, key, value)
    row.lease_owner, row.lease_until, row.updated_at = None, None, now
    session.flush()
    return row


def due_schedule_ids(*, session: Session, now: datetime, platforms: Collection[str]) -> list[int]:
    """Active schedules on these platforms that are due and not leased by a live process."""
    return list(session.scalars(
        select(StudySchedule.id).join(Channel, Channel.id == StudySchedule.channel_id)
        .where(_due_and_free(now), reachable(platforms))
        .order_by(StudySchedule.next_fire_at)
    ))


def next_schedule_time(*, session: Session, platforms: Collection[str]) -> datetime | None:
    """When the next active schedule on these platforms is due."""
    return session.scalar(select(func.min(StudySchedule.next_fire_at))
                          .join(Channel, Channel.id == StudySchedule.channel_id)
                          .where(StudySchedule.active.is_(True), reachable(platforms)))


def claim_schedule(*, session: Session, schedule_id: int, owner: str, now: datetime, until: datetime) -> bool:
    """Compare-and-set: lease a due schedule to `owner`; True for exactly one claimant."""
    result = session.execute(
        update(StudySchedule).where(StudySchedule.id == schedule_id, _due_and_free(now))
        .values(lease_owner=owner, lease_until=until)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def reachable(platforms: Collection[str] | Mapping[str, Collection[str] | None]) -> Any:
    """A condition on `Channel`: its platform is one of `platforms`; given as a mapping, a platform whose value
    is a set of channel ids (a terminal posts only to its own channel) matches only those channels."""
    if not isinstance(platforms, Mapping):
        return Channel.platform.in_(sorted(platforms))
    return or_(false(), *(Channel.platform == platform if channels is None else
                          and_(Channel.platform == platform, Channel.platform_channel_id.in_(sorted(channels)))
                          for platform, channels in sorted(platforms.items())))


def _due_and_free(now: datetime) -> Any:
    return and_(StudySchedule.active.is_(True), StudySchedule.next_fire_at <= now,
                or_(StudySchedule.lease_until.is_(None), StudySchedule.lease_until < now))


def _seconds(value: int) -> timedelta:
    return timedelta(seconds=value)
