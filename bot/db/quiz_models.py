"""Tables of quizzes and study channels: sessions, attempts, review state, schedules, pending typed answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, utcnow
from bot.db.types import UTCDateTime

# Session modes: a personal quiz, a /review of due items, a team round in a study channel, a scheduled question.
PERSONAL, REVIEW, TEAM, STUDY = "personal", "review", "team", "study"
MODES = (PERSONAL, REVIEW, TEAM, STUDY)
ROUND_MODES = (TEAM, STUDY)
# Session states: only forward moves, active -> finished | abandoned.
ACTIVE, FINISHED, ABANDONED = "active", "finished", "abandoned"


class StudySchedule(Base):
    """A study channel: when it gets a question, how long answers stay open, and its streak."""

    __tablename__ = "study_schedules"
    __table_args__ = (UniqueConstraint("channel_id", name="uq_study_schedules_channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    # Where to post, copied from the channel so the scheduler needs no join.
    platform: Mapped[str] = mapped_column(String(16), index=True)
    workspace_id: Mapped[str] = mapped_column(String(64), default="")
    platform_channel_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # daily | interval
    time_of_day: Mapped[str | None] = mapped_column(String(5))  # "HH:MM" for daily
    every_hours: Mapped[int | None] = mapped_column(Integer)  # for interval
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    spec: Mapped[str] = mapped_column(String(128))  # the schedule as people read it, e.g. "daily at 09:00 UTC"
    topic: Mapped[str | None] = mapped_column(String(64))
    window_minutes: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    next_fire_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    last_fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A process fires a due schedule only after claiming this lease with a compare-and-set.
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rounds: Mapped[int] = mapped_column(Integer, default=0)
    streak: Mapped[int] = mapped_column(Integer, default=0)
    best_streak: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class QuizSession(Base):
    """A run of questions: a personal quiz or review, or a round in a channel where anyone may answer."""

    __tablename__ = "quiz_sessions"
    __table_args__ = (
        UniqueConstraint("live_key", name="uq_quiz_sessions_live_key"),
        Index("ix_quiz_sessions_state_window", "state", "window_ends_at"),
        Index("ix_quiz_sessions_owner_channel", "owner_id", "channel_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mode: Mapped[str] = mapped_column(String(16), index=True)  # personal | review | team | study
    state: Mapped[str] = mapped_column(String(16), default=ACTIVE)  # active | finished | abandoned
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("study_schedules.id", ondelete="SET NULL"),
                                                     index=True)
    topic: Mapped[str | None] = mapped_column(String(64))
    item_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Per slot, the order its choices are shown in (indexes into the item's choices); null for no shuffle.
    choice_orders: Mapped[list[Any] | None] = mapped_column(JSON)
    current_index: Mapped[int] = mapped_column(Integer, default=0)
    # Bumped by every accepted answer in the same compare-and-set that checks the question is still open.
    answers: Mapped[int] = mapped_column(Integer, default=0)
    ephemeral: Mapped[bool] = mapped_column(Boolean, default=False)
    window_seconds: Mapped[int | None] = mapped_column(Integer)
    question_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    window_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # "<mode>:<channel id>" while a channel round is open, NULL otherwise: one open round of a kind per channel.
    live_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def total(self) -> int:
        return len(self.item_ids or [])


class QuizAttempt(Base):
    """One person's answer to one question of a session, graded; never more than one per question slot."""

    __tablename__ = "quiz_attempts"
    __table_args__ = (
        UniqueConstraint("session_id", "slot", "user_id", name="uq_quiz_attempts_session_slot_user"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("quiz_sessions.id", ondelete="CASCADE"), index=True)
    slot: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="SET NULL"), index=True)
    mode: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[str] = mapped_column(String(200), index=True)
    topic: Mapped[str] = mapped_column(String(64), index=True)
    entry_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # choice | true_false | free_text
    generated: Mapped[bool] = mapped_column(Boolean, default=False)
    answer: Mapped[str] = mapped_column(Text, default="")
    # The order the choices were shown in, so a letter or button number reads as the choice the person saw.
    choice_order: Mapped[list[Any] | None] = mapped_column(JSON)
    skipped: Mapped[bool] = mapped_column(Boolean, default=False)
    correct: Mapped[bool] = mapped_column(Boolean)
    score: Mapped[float] = mapped_column(Float)
    feedback: Mapped[str] = mapped_column(Text, default="")
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class ReviewState(Base):
    """Spaced-repetition state of one item for one person (an FSRS card), and when it is due next."""

    __tablename__ = "review_states"
    __table_args__ = (
        UniqueConstraint("user_id", "item_id", name="uq_review_states_user_item"),
        Index("ix_review_states_user_due", "user_id", "due"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    item_id: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(64))
    entry_id: Mapped[str] = mapped_column(String(128))
    card: Mapped[dict[str, Any]] = mapped_column(JSON)  # fsrs.Card.to_dict()
    state: Mapped[str] = mapped_column(String(16))  # learning | review | relearning
    due: Mapped[datetime] = mapped_column(UTCDateTime())
    stability: Mapped[float | None] = mapped_column(Float)
    difficulty: Mapped[float | None] = mapped_column(Float)
    last_rating: Mapped[str] = mapped_column(String(8))  # again | hard | good | easy
    reps: Mapped[int] = mapped_column(Integer, default=0)
    lapses: Mapped[int] = mapped_column(Integer, default=0)
    last_review_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class QuizPrompt(Base):
    """The question a person's next typed answer in a channel goes to, so it survives a restart."""

    __tablename__ = "quiz_prompts"
    __table_args__ = (UniqueConstraint("user_id", "channel_id", name="uq_quiz_prompts_user_channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(ForeignKey("quiz_sessions.id", ondelete="CASCADE"), index=True)
    slot: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
