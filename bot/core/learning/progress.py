"""Progress from stored attempts: `/stats [@user]` for a person, `/leaderboard` for a channel."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from bot.core.conversation import Reply, Request
from bot.core.errors import NotFound
from bot.core.identity import display, find_channel, find_user
from bot.core.text import chat_escape
from bot.db import quiz_repo as repo
from bot.db import repo as people
from bot.db.base import utcnow
from bot.db.engine import Database
from bot.db.models import User

STREAK_LOOKBACK_DAYS = 400
LEADERBOARD_SIZE = 10
_MENTION = re.compile(r"^<@!?([A-Za-z0-9_.-]+)(?:\|[^>]*)?>$")


def day_streak(days: set[date], today: date) -> int:
    """Consecutive days with an answer, ending today (or yesterday, so the streak lives until the day is over)."""
    day = today if today in days else today - timedelta(days=1)
    streak = 0
    while day in days:
        streak += 1
        day -= timedelta(days=1)
    return streak


class StatsService:
    """Personal progress and channel rankings, computed from the attempts table."""

    def __init__(self, database: Database, *, now: Callable[[], datetime] = utcnow) -> None:
        self.database = database
        self.now = now

    async def stats(self, request: Request) -> Reply:
        """Attempts, accuracy overall and by topic, day streak and items due, for you or `@someone`."""
        return await asyncio.to_thread(self._stats, request)

    async def leaderboard(self, request: Request) -> Reply:
        """This channel's ranking by correct answers given in it."""
        return await asyncio.to_thread(self._leaderboard, request)

    def _stats(self, request: Request) -> Reply:
        now = self.now()
        with self.database.session() as session:
            user = self._target(session, request)
            name = chat_escape(display(user)) if user else chat_escape(request.user.name or request.user.platform_id)
            if user is None:
                return Reply("No answers yet. Try /quiz!", title=f"Stats · {name}", ephemeral=True, kind="stats")
            totals = repo.user_totals(session=session, user_id=user.id)
            topics = repo.topic_totals(session=session, user_id=user.id)
            times = repo.answer_times(session=session, user_id=user.id,
                                      since=now - timedelta(days=STREAK_LOOKBACK_DAYS))
            due, scheduled, upcoming = repo.review_counts(session=session, user_id=user.id, now=now)
        streak = day_streak({moment.date() for moment in times}, now.date())
        by_topic = sorted(topics.items(), key=lambda pair: (-pair[1].attempts, pair[0]))
        topic_text = " · ".join(f"{topic} {t.correct}/{t.attempts} ({t.accuracy:.0%})" for topic, t in by_topic)
        due_text = f"{due} (of {scheduled} scheduled)"
        if not due and upcoming is not None:
            due_text += f"; next {upcoming.strftime('%a %d %b %H:%M UTC')}"
        fields = (
            ("Attempts", str(totals.attempts)),
            ("Accuracy", f"{totals.accuracy:.0%} ({totals.correct} of {totals.attempts})"),
            ("Accuracy by topic", topic_text or "none yet"),
            ("Streak", f"{streak} day{'s' if streak != 1 else ''}"),
            ("Items due", due_text),
        )
        text = "Your progress." if user.platform_user_id == request.user.platform_id else f"{name}'s progress."
        if not totals.attempts:
            text = "No answers yet. Try /quiz!"
        elif due:
            text += " Some questions are due: try /review."
        return Reply(text, title=f"Stats · {name}", fields=fields, ephemeral=True, kind="stats")

    def _target(self, session: Session, request: Request) -> User | None:
        """The person `/stats` is about: the caller, or the mentioned person of the same platform."""
        wanted = request.text.strip()
        if not wanted:
            return find_user(session, request)
        mention = _MENTION.match(wanted)
        key = mention.group(1) if mention else wanted.removeprefix("@").strip()
        user = people.find_user(session=session, platform=request.platform, platform_user_id=key)
        if user is None:
            named = people.users_named(session=session, platform=request.platform, display_name=key)
            user = named[0] if len(named) == 1 else None
        if user is None:
            raise NotFound(f"I don't know {chat_escape(wanted)} yet: they haven't answered any questions.")
        return user

    def _leaderboard(self, request: Request) -> Reply:
        with self.database.session() as session:
            channel = find_channel(session, request)
            ranking = repo.channel_ranking(session=session, channel_id=channel.id, limit=LEADERBOARD_SIZE) \
                if channel else []
            schedule = repo.get_schedule(session=session, channel_id=channel.id) if channel else None
        title = f"Leaderboard · {chat_escape(request.channel_name or request.channel_id)}"
        if not ranking:
            return Reply("No answers in this channel yet. Start with /quiz, or `/study start` for a daily question.",
                         title=title, kind="leaderboard")
        medals = ["🥇", "🥈", "🥉"]
        lines = [f"{medals[i] if i < 3 else f'{i + 1}.'} {chat_escape(s.name)}: {s.correct} correct of "
                 f"{s.attempts} ({s.accuracy:.0%})" for i, s in enumerate(ranking)]
        fields: tuple[tuple[str, str], ...] = ()
        if schedule is not None:
            fields = (("Study streak", f"{schedule.streak} (best {schedule.best_streak})"),)
        return Reply("\n".join(lines), title=title, fields=fields, kind="leaderboard")
