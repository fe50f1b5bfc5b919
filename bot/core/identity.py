"""The user and channel rows a request stands for, and the per-channel switches its managers turn."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.core.conversation import Request
from bot.core.errors import Forbidden
from bot.db import channel_switches, repo
from bot.db.channel_switches import ChannelSwitch
from bot.db.models import Channel, User


def identify(session: Session, request: Request) -> tuple[User, Channel]:
    """The user and channel rows of a request, created on first sight."""
    return user_of(session, request), channel_of(session, request)


def user_of(session: Session, request: Request) -> User:
    """The request's user row, created on first sight (its display name kept fresh)."""
    return repo.get_or_create_user(session=session, platform=request.platform,
                                   platform_user_id=request.user.platform_id, display_name=request.user.name)


def channel_of(session: Session, request: Request) -> Channel:
    """The request's channel row, created on first sight."""
    return repo.get_or_create_channel(session=session, platform=request.platform,
                                      workspace_id=request.workspace_id, platform_channel_id=request.channel_id,
                                      name=request.channel_name)


def switch_here(session: Session, request: Request, switch: type[ChannelSwitch], word: str, refusal: str) -> bool:
    """`on`, `off` or `status` of a per-channel switch (`/run on`, `/autoanswer on`) in the request's channel:
    anyone may ask its status, only those who can manage the channel turn it (Forbidden with `refusal` otherwise).
    Whether it is on now."""
    channel = channel_of(session, request)
    if word == "status":
        return channel_switches.is_on(session=session, switch=switch, channel_id=channel.id)
    if not request.user.can_manage_channel:
        raise Forbidden(refusal)
    channel_switches.turn(session=session, switch=switch, channel_id=channel.id, on=word == "on",
                          user_id=user_of(session, request).id)
    return word == "on"


def find_user(session: Session, request: Request) -> User | None:
    """The request's user row, if it exists."""
    return repo.find_user(session=session, platform=request.platform, platform_user_id=request.user.platform_id)


def find_channel(session: Session, request: Request) -> Channel | None:
    """The request's channel row, if it exists."""
    return repo.find_channel(session=session, platform=request.platform, workspace_id=request.workspace_id,
                             platform_channel_id=request.channel_id)


def display(user: User) -> str:
    """How a person is named in replies."""
    return user.display_name or user.platform_user_id
