"""Threads the bot answers in, and channels whose managers opted in to auto-answers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, utcnow
from bot.db.channel_switches import ChannelSwitch
from bot.db.types import UTCDateTime


class ConversationThread(Base):
    """A chat thread holding a question the bot answered: what a follow-up there is read with.

    `thread_id` is the id of the message the thread hangs on (Discord's thread id, Slack's thread_ts). `started`:
    the bot opened it (an answer to a mention, an auto-answer, a posted private answer), so every reply there is
    for the bot; a thread someone else opened only gets answers when they mention it.
    """

    __tablename__ = "conversation_threads"
    __table_args__ = (UniqueConstraint("platform", "workspace_id", "thread_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    workspace_id: Mapped[str] = mapped_column(String(64), default="")
    thread_id: Mapped[str] = mapped_column(String(64))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="SET NULL"))
    context: Mapped[str] = mapped_column(Text)  # the question the latest answer there was found for
    entry_id: Mapped[str | None] = mapped_column(String(128))
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id", ondelete="SET NULL"), index=True)
    asker: Mapped[str] = mapped_column(String(64), default="")  # the platform user id of who asked first
    started: Mapped[bool] = mapped_column(Boolean, default=True)
    auto: Mapped[bool] = mapped_column(Boolean, default=False)  # its first answer was an auto-answer
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AutoAnswerChannel(ChannelSwitch, Base):
    """A channel (or Discord forum) where every new post gets an answer when the bot is sure."""

    __tablename__ = "autoanswer_channels"
