"""Reading and writing conversation threads; the caller owns the transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db.base import utcnow
from bot.db.models import Channel
from bot.db.repo import clean_text
from bot.db.thread_models import ConversationThread

CONTEXT_LIMIT = 2000


def find_thread(*, session: Session, platform: str, workspace_id: str, thread_id: str) -> ConversationThread | None:
    """The thread hanging on this message, if the bot has answered there."""
    return session.scalar(select(ConversationThread).where(
        ConversationThread.platform == platform, ConversationThread.workspace_id == workspace_id,
        ConversationThread.thread_id == thread_id))


def thread_of_question(*, session: Session, question_id: int) -> ConversationThread | None:
    """The thread whose first answer was this question's."""
    return session.scalar(select(ConversationThread).where(ConversationThread.question_id == question_id))


def save_thread(*, session: Session, channel: Channel, thread_id: str, context: str, entry_id: str | None,
                question_id: int | None = None, asker: str = "", started: bool = True,
                auto: bool = False) -> ConversationThread:
    """Remember what a thread of this channel is about: a new row, or the latest context of a known one (first
    asker kept)."""
    platform, workspace_id = channel.platform, channel.workspace_id
    thread = find_thread(session=session, platform=platform, workspace_id=workspace_id, thread_id=thread_id)
    if thread is None:
        try:
            with session.begin_nested():
                thread = ConversationThread(platform=platform, workspace_id=workspace_id, thread_id=thread_id,
                                            channel_id=channel.id, asker=asker,
                                            context=clean_text(context, CONTEXT_LIMIT), entry_id=entry_id,
                                            question_id=question_id, started=started, auto=auto)
                session.add(thread)
            return thread
        except IntegrityError:  # a concurrent first answer in the same thread
            thread = find_thread(session=session, platform=platform, workspace_id=workspace_id, thread_id=thread_id)
            assert thread is not None
    thread.context = clean_text(context, CONTEXT_LIMIT)
    thread.entry_id = entry_id
    thread.updated_at = utcnow()
    return thread
