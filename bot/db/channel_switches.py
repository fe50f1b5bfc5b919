"""Opt-ins a channel's managers switch on and off (`/run on`, `/autoanswer on`): one row per channel while on."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.db.base import rowcount, utcnow
from bot.db.models import Channel
from bot.db.types import UTCDateTime


class ChannelSwitch:
    """The columns of a switch's table: the channel it is on in, who turned it on, and when."""

    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True)
    enabled_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    enabled_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


def is_on(*, session: Session, switch: type[ChannelSwitch], channel_id: int) -> bool:
    """Whether the switch is on in the channel."""
    return session.scalar(select(switch.channel_id).where(switch.channel_id == channel_id)) is not None


def is_on_at(*, session: Session, switch: type[ChannelSwitch], platform: str, workspace_id: str,
             platform_channel_id: str) -> bool:
    """Whether the switch is on in the channel with these platform ids (False for a channel never seen)."""
    query = (select(switch.channel_id).join(Channel, Channel.id == switch.channel_id)
             .where(Channel.platform == platform, Channel.workspace_id == workspace_id,
                    Channel.platform_channel_id == platform_channel_id))
    return session.scalar(query) is not None


def turn(*, session: Session, switch: type[ChannelSwitch], channel_id: int, on: bool, user_id: int | None) -> bool:
    """Turn the switch on or off in a channel; whether that changed anything."""
    if on:
        if is_on(session=session, switch=switch, channel_id=channel_id):
            return False
        session.add(switch(channel_id=channel_id, enabled_by=user_id))  # type: ignore[call-arg]
        session.flush()
        return True
    return rowcount(session.execute(delete(switch).where(switch.channel_id == channel_id))) > 0


def channels_on(*, session: Session, switch: type[ChannelSwitch]) -> set[tuple[str, str, str]]:
    """(platform, workspace id, platform channel id) of every channel where the switch is on."""
    rows = session.execute(select(Channel.platform, Channel.workspace_id, Channel.platform_channel_id)
                           .join(switch, switch.channel_id == Channel.id))
    return {(str(p), str(w or ""), str(c)) for p, w, c in rows}
