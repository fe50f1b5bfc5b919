"""Reading and writing conversation threads and auto-answer channels; the caller owns the transaction."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db.base import rowcount, utcnow
from bot.db.models import Channel
from bot.db.repo import clean_text
from bot.db.thread_models import AutoAnswerChannel, ConversationThread

CONTEXT_LIMIT = 2000


def find_thread(*, session: Session, platform: str, workspace_id: str, thread_id: str) -> ConversationThread | None:
    """The thread hanging on this message, if the bot has answered there."""
    return session.scalar(select(ConversationThread).where(
        ConversationThread.platform == platform, ConversationThread.workspace_id == workspace_id,
        ConversationThread.thread_id == thread_id))


def thread_of_question(*, session: Session, question_id: int) -> ConversationThread | None:
    """The thread whose first answer was this question's."""
    return session.scalar(select(ConversationThread).where(ConversationThread.question_id == question_id))


def save_thread(*, session: Session, platform: str, workspace_id: str, thread_id: str, channel: Channel | None,
                context: str, entry_id: str | None, question_id: int | None = None, asker: str = "",
                started: bool = True, auto: bool = False) -> ConversationThread:
    """Remember what a thread is about: a new row, or the latest context of a known one (first asker kept)."""
    thread = find_thread(session=session, platform=platform, workspace_id=workspace_id, thread_id=thread_id)
    if thread is None:
        try:
            with session.begin_nested():
                thread = ConversationThread(platform=platform, workspace_id=workspace_id, thread_id=thread_id,
                                            channel_id=channel.id if channel else None, asker=asker,
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


def autoanswer_enabled_in(*, session: Session, channel_id: int) -> bool:
    """Whether the channel's managers turned auto-answers on there."""
    query = select(AutoAnswerChannel.channel_id).where(AutoAnswerChannel.channel_id == channel_id)
    return session.scalar(query) is not None


def set_autoanswer(*, session: Session, channel_id: int, enabled: bool, user_id: int | None) -> bool:
    """Turn auto-answers on or off in a channel; whether that changed anything."""
    if enabled:
        if autoanswer_enabled_in(session=session, channel_id=channel_id):
            return False
        session.add(AutoAnswerChannel(channel_id=channel_id, enabled_by=user_id))
        session.flush()
        return True
    return rowcount(session.execute(delete(AutoAnswerChannel).where(AutoAnswerChannel.channel_id == channel_id))) > 0


def autoanswer_channels(*, session: Session) -> set[tuple[str, str, str]]:
    """(platform, workspace id, platform channel id) of every channel with auto-answers on."""
    rows = session.execute(select(Channel.platform, Channel.workspace_id, Channel.platform_channel_id)
                           .join(AutoAnswerChannel, AutoAnswerChannel.channel_id == Channel.id))
    return {(str(p), str(w or ""), str(c)) for p, w, c in rows}
