"""Tables of the knowledge-gap review: which unanswered questions an admin has dismissed or resolved."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, utcnow
from bot.db.types import UTCDateTime


class KnowledgeGapMark(Base):
    """A question taken off the knowledge-gaps list: `dismissed` (not worth an entry) or `resolved` (now covered)."""

    __tablename__ = "knowledge_gap_marks"

    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    marked_by: Mapped[str] = mapped_column(String(128), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
