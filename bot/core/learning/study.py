"""Study channels: a question on a schedule, its answer and results after a window, streaks.

Schedules are rows. `study_tick(now)` closes round questions whose window has passed and fires due schedules;
each step is a compare-and-set in the database (a lease for schedules, the open question's index for rounds),
so with several bot processes ticking at once every question is posted once and every result once. A process
only works on channels of platforms it has a poster for (see `bot.core.outbox`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.background import cancel_and_wait
from bot.core.conversation import Reply, Request
from bot.core.errors import BadInput, Forbidden
from bot.core.identity import find_channel, identify
from bot.core.learning.quizzes import DATE_FORMAT, ROUND_KINDS, QuizService, render_question, resolve_topic
from bot.core.outbox import Outbox, Post, Reach
from bot.db import quiz_repo as repo
from bot.db.base import lease_owner, utcnow
from bot.db.engine import Database
from bot.db.models import Channel
from bot.db.quiz_models import STUDY, StudySchedule

log = logging.getLogger(__name__)

DEFAULT_SCHEDULE = "daily 09:00"
DEFAULT_WINDOW_MINUTES = 60
MAX_EVERY_HOURS = 168
LEASE = timedelta(minutes=2)
RECENT_ITEMS = 30
EXAMPLES = "`daily 09:00`, `daily at 9am`, `every 6h` or `every 2 hours`"

_TIME = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$")
_EVERY = re.compile(r"^every\s+(?:(\d+)\s*)?(h|hr|hrs|hour|hours)$")
_WINDOW = re.compile(r"\s+(?:window|for)\s+(\d+)\s*(m|min|mins|minute|minutes|h|hr|hrs|hour|hours)$")
_TOPIC = re.compile(r"\s+topic\s+(\S+)$")


@dataclass(frozen=True)
class Schedule:
    """When a channel gets a question: daily at a local time, or every N hours; and how long answers stay open."""

    kind: str  # daily | interval
    time_of_day: time | None = None
    every_hours: int | None = None
    timezone: str = "UTC"
    window_minutes: int = DEFAULT_WINDOW_MINUTES

    def describe(self) -> str:
        """The schedule as people read it."""
        if self.kind == "daily" and self.time_of_day is not None:
            return f"daily at {self.time_of_day.strftime('%H:%M')} {self.timezone}"
        hours = self.every_hours or 1
        return "every hour" if hours == 1 else f"every {hours} hours"

    def next_after(self, now: datetime, previous: datetime | None = None) -> datetime:
        """The first firing time after `now` (an interval counts on from the previous one, skipping missed ones)."""
        if self.kind == "daily":
            assert self.time_of_day is not None
            zone = ZoneInfo(self.timezone)
            day = now.astimezone(zone).date()
            while True:
                candidate = datetime.combine(day, self.time_of_day, tzinfo=zone)
                if candidate > now:
                    return candidate.astimezone(now.tzinfo)
                day += timedelta(days=1)
        step = timedelta(hours=self.every_hours or 1)
        if previous is None:
            return now + step
        moment = previous + step
        if moment <= now:
            moment += step * ((now - moment) // step + 1)
        return moment


def parse_schedule(text: str) -> Schedule:
    """A Schedule from `daily 09:00`, `daily at 9am`, `every 6h`, `every 2 hours` (optionally a time zone
    after a daily time, and `window 30m`); empty means `daily 09:00`. Anything else is BadInput."""
    original = " ".join(text.split())
    spec = original or DEFAULT_SCHEDULE
    window: int | None = None
    match = _WINDOW.search(" " + spec.lower())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        window = amount * 60 if unit.startswith("h") else amount
        spec = spec[: match.start() - 1].strip()  # the match is in " " + spec
    lowered = spec.lower()
    if lowered == "hourly":
        lowered = "every 1 hour"
    every = _EVERY.match(lowered)
    if every:
        hours = int(every.group(1) or 1)
        if not 1 <= hours <= MAX_EVERY_HOURS:
            raise _bad(original, f"every N hours takes 1 to {MAX_EVERY_HOURS} hours")
        return _with_window(Schedule("interval", every_hours=hours,
                                     window_minutes=min(DEFAULT_WINDOW_MINUTES, hours * 30)), window, original)
    return _with_window(_parse_daily(spec, original), window, original)


def _parse_daily(spec: str, original: str) -> Schedule:
    words = spec.split()
    lowered = [w.lower() for w in words]
    if lowered[:2] == ["every", "day"]:
        words, lowered = ["daily", *words[2:]], ["daily", *lowered[2:]]
    if not lowered or lowered[0] != "daily":
        raise _bad(original)
    rest, rest_lower = words[1:], lowered[1:]
    if rest_lower[:1] == ["at"]:
        rest, rest_lower = rest[1:], rest_lower[1:]
    zone = "UTC"
    if rest and (rest_lower[-1] in ("utc", "gmt") or "/" in rest[-1]):
        zone = _zone(rest[-1], original)
        rest, rest_lower = rest[:-1], rest_lower[:-1]
    clock = " ".join(rest_lower) or "09:00"
    return Schedule("daily", time_of_day=_time_of_day(clock, original), timezone=zone)


def _time_of_day(text: str, original: str) -> time:
    match = _TIME.match(text)
    if not match:
        raise _bad(original)
    hour, minute, meridiem = int(match.group(1)), int(match.group(2) or 0), match.group(3)
    if meridiem:
        if not 1 <= hour <= 12:
            raise _bad(original, "with am/pm the hour is 1 to 12")
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise _bad(original, "the time must be between 00:00 and 23:59")
    return time(hour, minute)


def _zone(name: str, original: str) -> str:
    if name.lower() in ("utc", "gmt"):
        return "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _bad(original, f"unknown time zone {name!r}") from None
    return name


def _with_window(schedule: Schedule, window: int | None, original: str) -> Schedule:
    if window is None:
        return schedule
    longest = (schedule.every_hours or 24) * 60 - 1
    if not 1 <= window <= longest:
        raise _bad(original, f"the answer window must be 1 to {longest} minutes, shorter than the gap between "
                             "questions")
    return Schedule(schedule.kind, schedule.time_of_day, schedule.every_hours, schedule.timezone, window)


def _bad(original: str, why: str | None = None) -> BadInput:
    reason = f" ({why})" if why else ""
    return BadInput(f"I can't read the schedule `{original}`{reason}. Try {EXAMPLES}; times are UTC unless you "
                    "add a zone such as `daily 09:00 Europe/Paris`.")


def schedule_of(row: StudySchedule) -> Schedule:
    """The Schedule a row stores."""
    clock = time.fromisoformat(row.time_of_day) if row.time_of_day else None
    return Schedule(row.kind, clock, row.every_hours, row.timezone, row.window_minutes)


class StudyService:
    """The `/study` command and the scheduler tick."""

    def __init__(self, database: Database, quiz: QuizService, outbox: Outbox, *, now: Callable[[], datetime] = utcnow,
                 owner: str | None = None, lease: timedelta = LEASE) -> None:
        self.database = database
        self.quiz = quiz
        self.outbox = outbox
        self.now = now
        self.owner = owner or lease_owner()
        self.lease = lease
        self.on_schedule_changed: Callable[[], None] | None = None

    # --- /study ------------------------------------------------------------------------------------------

    async def study(self, request: Request) -> Reply:
        """`/study start [schedule]`, `/study stop`, `/study status`."""
        action, _, rest = request.text.strip().partition(" ")
        action = action.lower() or "status"
        if action in ("start", "stop"):
            may_schedule(request)
        if action == "start":
            rest, topic_name = _split_topic(rest)
            schedule = parse_schedule(rest)
            topic = None
            if topic_name:
                snapshot = await asyncio.to_thread(self.quiz.bank.snapshot)
                topic = resolve_topic(snapshot, topic_name)
            reply = await asyncio.to_thread(self._start, request, schedule, topic)
            if self.on_schedule_changed is not None:
                self.on_schedule_changed()
            return reply
        if action == "stop":
            return await asyncio.to_thread(self._stop, request)
        if action == "status":
            return await asyncio.to_thread(self._status, request)
        raise BadInput(f"Use `/study start [schedule]`, `/study stop` or `/study status`; schedules look like "
                       f"{EXAMPLES}.")

    def _start(self, request: Request, schedule: Schedule, topic: str | None) -> Reply:
        now = self.now()
        with self.database.transaction() as session:
            user, channel = identify(session, request)
            existing = repo.get_schedule(session=session, channel_id=channel.id)
            values = {
                "kind": schedule.kind, "timezone": schedule.timezone, "every_hours": schedule.every_hours,
                "time_of_day": schedule.time_of_day.strftime("%H:%M") if schedule.time_of_day else None,
                "spec": schedule.describe(), "topic": topic, "window_minutes": schedule.window_minutes,
                "active": True, "next_fire_at": schedule.next_after(now),
            }
            if existing is None or not existing.active:
                values["created_by"] = user.id
            row = repo.save_schedule(session=session, channel=channel, values=values, now=now)
            verb = "now gets" if existing is None or not existing.active else "now gets (schedule changed)"
            text = (f"This channel {verb} a question {row.spec}{f' on {topic}' if topic else ''}. Answers stay "
                    f"open {row.window_minutes} min; then I post the answer, who got it, the streak and the "
                    "leaderboard.\nStart a team round any time with /quiz.")
            return Reply(text, title="Study channel", fields=_fields(row), kind="study")

    def _stop(self, request: Request) -> Reply:
        with self.database.transaction() as session:
            user, channel = identify(session, request)
            row = repo.get_schedule(session=session, channel_id=channel.id)
            if row is None or not row.active:
                raise BadInput("This channel has no study schedule running. Start one with `/study start daily 09:00`.")
            row.active, row.lease_owner, row.lease_until, row.updated_at = False, None, None, self.now()
            text = f"Study questions stopped here. The streak was {row.streak} (best {row.best_streak})."
            return Reply(text, title="Study channel", kind="study")

    def _status(self, request: Request) -> Reply:
        with self.database.session() as session:
            channel = find_channel(session, request)
            row = repo.get_schedule(session=session, channel_id=channel.id) if channel else None
            if row is None or not row.active:
                return Reply("No study schedule here. Start one with `/study start daily 09:00` (or "
                             f"{EXAMPLES}).", title="Study channel", ephemeral=True, kind="study")
            open_round = repo.open_round(session=session, channel_id=row.channel_id, mode=STUDY)
            text = f"A question {row.spec}; answers stay open {row.window_minutes} min."
            if open_round is not None and open_round.window_ends_at is not None:
                text += f"\nA question is open now, until {open_round.window_ends_at.strftime(DATE_FORMAT)}."
            return Reply(text, title="Study channel", fields=_fields(row), ephemeral=True, kind="study")

    # --- the scheduler -----------------------------------------------------------------------------------

    async def study_tick(self, now: datetime | None = None) -> list[Post]:
        """One scheduler step: close rounds whose window passed, fire due schedules, post what that says."""
        posts = await asyncio.to_thread(self.tick, now, self.outbox.reach)
        await self.outbox.deliver(posts)
        return posts

    def tick(self, now: datetime | None = None, platforms: Reach | None = None) -> list[Post]:
        """The posts one scheduler step produces, its database work committed (call it off the event loop);
        only channels of `platforms` (default: those the outbox reaches) are worked on."""
        now = now or self.now()
        platforms = self.outbox.reach if platforms is None else platforms
        if not platforms:
            return []
        posts = self.quiz.close_due_rounds(now, platforms)
        with self.database.session() as session:
            due = repo.due_schedule_ids(session=session, now=now, platforms=platforms)
        for schedule_id in due:
            try:
                posts += self._fire(schedule_id, now)
            except Exception:
                log.exception("firing study schedule %s failed; its lease expires and it is retried", schedule_id)
        return posts

    def _fire(self, schedule_id: int, now: datetime) -> list[Post]:
        with self.database.transaction() as session:
            if not repo.claim_schedule(session=session, schedule_id=schedule_id, owner=self.owner, now=now,
                                       until=now + self.lease):
                return []  # another process has it
        snapshot = self.quiz.bank.snapshot()
        with self.database.transaction() as session:
            row = session.get(StudySchedule, schedule_id, populate_existing=True)
            if row is None or row.lease_owner != self.owner:
                return []
            channel = session.get(Channel, row.channel_id)
            assert channel is not None
            row.next_fire_at = schedule_of(row).next_after(now, previous=row.next_fire_at)
            row.last_fired_at, row.lease_owner, row.lease_until, row.updated_at = now, None, None, now
            if repo.open_round(session=session, channel_id=channel.id, mode=STUDY) is not None:
                log.warning("study schedule %s: the previous question is still open; skipped this one", row.id)
                return []
            recent = repo.recent_channel_items(session=session, channel_id=channel.id, mode=STUDY, limit=RECENT_ITEMS)
            items = self.quiz.pick(snapshot.for_topic(row.topic), 1, seen=dict.fromkeys(recent, 1), rng=self.quiz.rng,
                                   max_free_text=0, kinds=ROUND_KINDS)
            if not items:
                log.warning("study schedule %s: no question available for topic %s", row.id, row.topic)
                return []
            quiz = repo.create_session(session=session, mode=STUDY, channel=channel, owner=None,
                                       item_ids=[items[0].id], topic=row.topic, ephemeral=False, now=now,
                                       window_seconds=row.window_minutes * 60, schedule_id=row.id,
                                       choice_orders=self.quiz.choice_orders(items))
            self.quiz.remember(session, quiz)
            row.rounds += 1
            question = render_question(quiz, 0, items[0], now=now)
            reply = Reply(f"📚 Study question for this channel.\n\n{question.text}", title=question.title,
                          buttons=question.buttons, kind=question.kind)
            return [Post(channel.platform, channel.workspace_id, channel.platform_channel_id, reply)]

    def seconds_to_next(self, longest: float) -> float:
        """How long the loop may sleep: until the next round deadline or schedule, at most `longest`."""
        platforms = self.outbox.reach
        if not platforms:
            return longest
        with self.database.session() as session:
            moments = [repo.next_round_deadline(session=session, platforms=platforms),
                       repo.next_schedule_time(session=session, platforms=platforms)]
        now = self.now()
        waits = [(m - now).total_seconds() for m in moments if m is not None]
        return max(0.05, min([longest, *(w + 0.05 for w in waits)]))


def _split_topic(text: str) -> tuple[str, str | None]:
    match = _TOPIC.search(" " + text.strip())
    if not match:
        return text, None
    return (" " + text.strip())[: match.start()].strip(), match.group(1)


# Who may schedule, in each platform's words; the adapters set `can_manage_channel` from the same rule.
_WHO_MAY_SCHEDULE = {
    "discord": "people with the Manage Channels permission here",
    "slack": "workspace admins and owners, and the people the bot's operator allows",
}


def may_schedule(request: Request) -> None:
    """Starting or stopping a channel's study questions is for those who manage the channel; others are told who."""
    if request.user.can_manage_channel or request.user.is_admin:
        return
    who = _WHO_MAY_SCHEDULE.get(request.platform, "channel admins")
    raise Forbidden(f"Only {who} can start or stop study questions in this channel; `/study status` is open to "
                    "everyone.")


def _fields(row: StudySchedule) -> tuple[tuple[str, str], ...]:
    return (
        ("Schedule", row.spec),
        ("Next question", row.next_fire_at.strftime(DATE_FORMAT)),
        ("Answer window", f"{row.window_minutes} min"),
        ("Streak", f"{row.streak} (best {row.best_streak})"),
        ("Questions so far", str(row.rounds)),
    )


class StudyLoop:
    """The background task of `run`/`serve`/`chat`: ticks every `interval` seconds, sooner when a deadline nears."""

    def __init__(self, service: StudyService, interval: float = 30.0, ready: Callable[[], bool] = lambda: True) -> None:
        self.service = service
        self.interval = interval
        self.ready = ready
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start ticking in the running event loop."""
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self.service.quiz.on_round_opened = self.nudge
            self.service.on_schedule_changed = self.nudge
            self._task = asyncio.create_task(self.run(), name="study-loop")

    def nudge(self) -> None:
        """Recompute the next wake-up now (a round or schedule just changed)."""
        self._wake.set()

    async def stop(self) -> None:
        """Cancel the loop and wait for it to end."""
        task, self._task = self._task, None
        self.service.quiz.on_round_opened = None
        self.service.on_schedule_changed = None
        await cancel_and_wait(task)

    async def run(self) -> None:
        """Tick until cancelled; a failing tick is logged and retried at the next one."""
        while True:
            self._wake.clear()
            delay = self.interval
            if self.ready():
                try:
                    await self.service.study_tick()
                    delay = await asyncio.to_thread(self.service.seconds_to_next, self.interval)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("study tick failed")
            else:
                delay = min(delay, 1.0)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass
