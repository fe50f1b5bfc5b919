"""The user and channel rows a request stands for."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.conversation import Request
from bot.db.models import Channel, User
from bot.db.repo import get_or_create_channel, get_or_create_user


def identify(session: Session, request: Request) -> tuple[User, Channel]:
    """The user and channel rows of a request, created on first sight."""
    user = get_or_create_user(session=session, platform=request.platform, platform_user_id=request.user.platform_id,
                              display_name=request.user.name)
    channel = get_or_create_channel(session=session, platform=request.platform, workspace_id=request.workspace_id,
                                    platform_channel_id=request.channel_id, name=request.channel_name)
    return user, channel


def find_user(session: Session, request: Request) -> User | None:
    """The request's user row, if it exists."""
    return session.scalar(select(User).where(User.platform == request.platform,
                                             User.platform_user_id == request.user.platform_id))


def find_channel(session: Session, request: Request) -> Channel | None:
    """The request's channel row, if it exists."""
    return session.scalar(select(Channel).where(Channel.platform == request.platform,
                                                Channel.workspace_id == request.workspace_id,
                                                Channel.platform_channel_id == request.channel_id))


def display(user: User) -> str:
    """How a person is named in replies."""
    return user.display_name or user.platform_user_id
