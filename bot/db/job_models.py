"""Tables of demo jobs: one row per job (the source of truth for its state), and the PNGs a job produced."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, utcnow
from bot.db.types import UTCDateTime


class Job(Base):
    """A demo run: who asked, where to answer, and how far it got. Status only ever moves forward."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    demo: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    queue: Mapped[str] = mapped_column(String(16), default="cpu")
    backend: Mapped[str] = mapped_column(String(16), default="local")
    time_limit_s: Mapped[float] = mapped_column(Float)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="SET NULL"))
    platform: Mapped[str] = mapped_column(String(16))
    # The network address an anonymous (playground) request came from: its jobs are limited per address.
    origin: Mapped[str | None] = mapped_column(String(64), index=True)
    message_ref: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str] = mapped_column(String(200), default="")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(128))
    device: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Where the job's chat message is (platform ids, opaque to the core), and which process keeps it current:
    # a process that stops following hands it back, and one whose lease lapses loses it to another.
    message_address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    follower: Mapped[str | None] = mapped_column(String(128))
    follow_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class JobImage(Base):
    """One PNG a finished job produced, in the order the demo returned them."""

    __tablename__ = "job_images"
    __table_args__ = (UniqueConstraint("job_id", "position", name="uq_job_images_job_position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    png: Mapped[bytes] = mapped_column(LargeBinary)
