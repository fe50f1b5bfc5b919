"""Channels whose admins opted in to `/run` (learners' snippets in the sandbox)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, utcnow
from bot.db.types import UTCDateTime


class RunChannel(Base):
    """A channel where `/run` is on: who turned it on, and when."""

    __tablename__ = "run_channels"

    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True)
    enabled_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    enabled_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
