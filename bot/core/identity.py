"""The user and channel rows a request stands for."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.core.conversation import Request
from bot.db import repo
from bot.db.models import Channel, User


def identify(session: Session, request: Request) -> tuple[User, Channel]:
    """The user and channel rows of a request, created on first sight."""
    user = repo.get_or_create_user(session=session, platform=request.platform,
                                   platform_user_id=request.user.platform_id, display_name=request.user.name)
    channel = repo.get_or_create_channel(session=session, platform=request.platform,
                                         workspace_id=request.workspace_id, platform_channel_id=request.channel_id,
                                         name=request.channel_name)
    return user, channel


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
