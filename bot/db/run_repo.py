"""Reading and changing which channels opted in to `/run`."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.db.base import rowcount
from bot.db.models import Channel
from bot.db.run_models import RunChannel


def run_enabled_in(*, session: Session, channel_id: int) -> bool:
    """Whether the channel's admins turned `/run` on there."""
    return session.scalar(select(RunChannel.channel_id).where(RunChannel.channel_id == channel_id)) is not None


def set_run_enabled(*, session: Session, channel_id: int, enabled: bool, user_id: int | None) -> bool:
    """Turn `/run` on or off in a channel; whether that changed anything."""
    if enabled:
        if run_enabled_in(session=session, channel_id=channel_id):
            return False
        session.add(RunChannel(channel_id=channel_id, enabled_by=user_id))
        session.flush()
        return True
    return rowcount(session.execute(delete(RunChannel).where(RunChannel.channel_id == channel_id))) > 0


def run_enabled_for(*, session: Session, platform: str, workspace_id: str, platform_channel_id: str) -> bool:
    """Whether `/run` is on in the channel with these platform ids (False for a channel never seen)."""
    query = (select(RunChannel.channel_id).join(Channel, Channel.id == RunChannel.channel_id)
             .where(Channel.platform == platform, Channel.workspace_id == workspace_id,
                    Channel.platform_channel_id == platform_channel_id))
    return session.scalar(query) is not None
