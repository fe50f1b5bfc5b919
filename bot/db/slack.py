"""Slack's tables: Bolt's installation and OAuth-state stores, and the events and requests already seen (retries
and replays are dropped)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import String, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.db.base import Base, rowcount, utcnow
from bot.db.types import UTCDateTime

INSTALLATIONS_TABLE = "slack_installations"
BOTS_TABLE = "slack_bots"
OAUTH_STATES_TABLE = "slack_oauth_states"

# Bolt's SQLAlchemy stores query tables of their own making; declaring the same tables here (with the stores'
# own builders) puts them in our metadata, so our migrations create them and the models-agree check covers them.
installations = SQLAlchemyInstallationStore.build_installations_table(Base.metadata, INSTALLATIONS_TABLE)
bots = SQLAlchemyInstallationStore.build_bots_table(Base.metadata, BOTS_TABLE)
oauth_states = SQLAlchemyOAuthStateStore.build_oauth_states_table(Base.metadata, OAUTH_STATES_TABLE)


class SlackEvent(Base):
    """An Events API delivery already taken on (Slack's retries of it, same `event_id`, are dropped), or a signed
    HTTP request taken on (keyed by `request_key`: a replay of it within the signature window is dropped)."""

    __tablename__ = "slack_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


def claim_event(*, session: Session, event_id: str, now: datetime | None = None) -> bool:
    """Record the event id; True the first time it is seen by any process, False for every later delivery."""
    values = {"event_id": event_id[:64], "received_at": now or utcnow()}
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (insert(SlackEvent).values(**values).on_conflict_do_nothing(index_elements=["event_id"])
                 .returning(SlackEvent.event_id))
    # RETURNING, not rowcount: an ORM-enabled insert on PostgreSQL reports rowcount -1 (truthy) when nothing went in.
    return session.execute(statement).first() is not None


def request_key(timestamp: str, signature: str) -> str:
    """The id under which a signed request is claimed: a hash of its timestamp and signature (64 hex digits)."""
    return hashlib.sha256(f"{timestamp}:{signature}".encode()).hexdigest()


def forget_events(*, session: Session, older_than: timedelta, now: datetime | None = None) -> int:
    """Drop event ids past the window in which Slack retries; returns how many went."""
    cutoff = (now or utcnow()) - older_than
    return rowcount(session.execute(delete(SlackEvent).where(SlackEvent.received_at < cutoff)))
