"""Channels whose admins opted in to `/run` (learners' snippets in the sandbox)."""

from __future__ import annotations

from bot.db.base import Base
from bot.db.channel_switches import ChannelSwitch


class RunChannel(ChannelSwitch, Base):
    """A channel where `/run` is on: who turned it on, and when."""

    __tablename__ = "run_channels"
