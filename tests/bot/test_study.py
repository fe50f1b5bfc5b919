"""Study channels: schedules parse or are refused, fire exactly once across processes, post results and streaks;
stats and the leaderboard count real attempts."""

from __future__ import annotations

import asyncio
import random
import threading
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import func, select, update

from bot.core.conversation import Person, Request
from bot.core.learning.features import QuizFeatures
from bot.core.learning.quizzes import QuizSettings
from bot.core.learning.review import default_scheduler
from bot.core.learning.study import Schedule, StudyLoop, parse_schedule
from bot.core.outbox import Outbox, Post
from bot.db.engine import Database
from bot.db.migrate import upgrade
from bot.db.quiz_models import QuizSession, StudySchedule
from tests.bot.quiz_fixtures import (  # noqa: F401
    QuizEnv,
    RecordingPoster,
    button,
    cache_fixture,
    choice_button,
    env_fixture,
)
from tests.helpers import wait_until

ROOM = {"channel": "room", "direct": False}


# --- schedule strings ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, kind, clock, hours, window, described", [
    ("", "daily", time(9), None, 60, "daily at 09:00 UTC"),
    ("daily 09:00", "daily", time(9), None, 60, "daily at 09:00 UTC"),
    ("daily at 9am", "daily", time(9), None, 60, "daily at 09:00 UTC"),
    ("Daily at 7:30 PM", "daily", time(19, 30), None, 60, "daily at 19:30 UTC"),
    ("every day at 12am", "daily", time(0), None, 60, "daily at 00:00 UTC"),
    ("daily 08:15 Europe/Paris", "daily", time(8, 15), None, 60, "daily at 08:15 Europe/Paris"),
    ("every 6h", "interval", None, 6, 60, "every 6 hours"),
    ("every 2 hours", "interval", None, 2, 60, "every 2 hours"),
    ("hourly", "interval", None, 1, 30, "every hour"),
    ("every 3h window 20m", "interval", None, 3, 20, "every 3 hours"),
    ("daily 9am for 2h", "daily", time(9), None, 120, "daily at 09:00 UTC"),
])
def test_schedules_parse(text: str, kind: str, clock: time | None, hours: int | None, window: int,
                         described: str) -> None:
    schedule = parse_schedule(text)
    assert (schedule.kind, schedule.time_of_day, schedule.every_hours, schedule.window_minutes) == (
        kind, clock, hours, window)
    assert schedule.describe() == described


@pytest.mark.parametrize("text", ["sometimes", "weekly", "daily 25:00", "daily 13pm", "every 0h", "every 500 hours",
                                  "every 6 days", "daily 9am Atlantis/Capital", "every 1h window 2h", "at noon-ish"])
def test_nonsense_schedules_are_refused_with_examples(text: str) -> None:
    with pytest.raises(Exception) as caught:
        parse_schedule(text)
    message = caught.value.user_message()  # type: ignore[attr-defined]
    assert f"`{text}`" in message and "`daily 09:00`" in message and "`every 6h`" in message
    assert "\n" not in message


def test_next_firing_times() -> None:
    monday_8 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    daily = parse_schedule("daily 09:00")
    assert daily.next_after(monday_8) == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert daily.next_after(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)) == datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    paris = parse_schedule("daily 09:00 Europe/Paris")  # UTC+1 in winter, UTC+2 after the clocks change
    assert paris.next_after(monday_8) == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
    assert paris.next_after(datetime(2026, 4, 1, 6, 0, tzinfo=UTC)) == datetime(2026, 4, 1, 7, 0, tzinfo=UTC)
    every = Schedule("interval", every_hours=6)
    assert every.next_after(monday_8) == monday_8 + timedelta(hours=6)
    # After downtime the missed firings are skipped, keeping the rhythm: no burst of questions.
    assert every.next_after(monday_8 + timedelta(hours=20), previous=monday_8) == monday_8 + timedelta(hours=24)


# --- /study -------------------------------------------------------------------------------------------------


async def test_study_start_status_stop(env: QuizEnv) -> None:
    [bad] = await env.command("/study start whenever you like", **ROOM)
    assert bad.kind == "error" and "`daily 09:00`" in bad.text and "\n" not in bad.text
    [none] = await env.command("/study status", **ROOM)
    assert "No study schedule here" in none.text
    [started] = await env.command("/study start daily at 9am topic tensors", **ROOM)
    assert started.kind == "study" and not started.ephemeral and "on tensors" in started.text
    assert ("Next question", "Mon 02 Mar 09:00 UTC") in started.fields
    [status] = await env.command("/study", "bob", **ROOM)
    assert ("Schedule", "daily at 09:00 UTC") in status.fields and status.ephemeral

    [changed] = await env.command("/study start every 4h", "bob", **ROOM)  # another channel manager
    assert "schedule changed" in changed.text and ("Schedule", "every 4 hours") in changed.fields
    [stopped] = await env.command("/study stop", **ROOM)
    assert "stopped" in stopped.text
    [again] = await env.command("/study stop", **ROOM)
    assert "no study schedule running" in again.text
    [usage] = await env.command("/study pause", **ROOM)
    assert "/study start" in usage.text
    with env.database.session() as session:
        row = session.scalars(select(StudySchedule)).one()
        assert not row.active and row.topic is None and row.every_hours == 4


async def test_only_channel_managers_schedule_and_everyone_else_is_told_who_may(env: QuizEnv) -> None:
    for platform, who in (("discord", "Manage Channels permission"), ("slack", "workspace admins and owners"),
                          ("console", "channel admins")):
        [refused] = await env.command("/study start every 6h", "bob", manager=False, platform=platform, **ROOM)
        assert refused.kind == "error" and refused.ephemeral and "\n" not in refused.text  # one line, to Bob alone
        assert who in refused.text and "`/study status` is open to everyone" in refused.text
    with env.database.session() as session:
        assert session.scalars(select(StudySchedule)).all() == []  # nothing was scheduled

    [started] = await env.command("/study start every 6h", "alice", **ROOM)
    assert started.kind == "study" and not started.ephemeral  # the channel sees that it is now a study channel
    [stop] = await env.command("/study stop", "bob", manager=False, **ROOM)
    assert stop.kind == "error" and "can start or stop" in stop.text
    [status] = await env.command("/study status", "bob", manager=False, **ROOM)
    assert status.kind == "study" and ("Schedule", "every 6 hours") in status.fields
    [admin] = await env.command("/study stop", "carol", manager=False, admin=True, **ROOM)  # a server admin
    assert "stopped" in admin.text

    # Answering a scheduled question stays open to everyone.
    await env.command("/study start every 6h", "alice", **ROOM)
    env.clock.advance(hours=6)
    [posted] = await env.tick()
    [ack] = await env.click(button(posted.reply, "quiz:answer:"), "bob", manager=False, **ROOM)
    assert ack.kind == "quiz_ack"


async def test_scheduled_questions_results_streaks_and_a_restart(env: QuizEnv) -> None:
    await env.command("/study start every 6h", **ROOM)
    assert await env.tick() == []  # not due yet
    env.clock.advance(hours=6)
    [posted] = await env.tick()
    assert posted.channel_id == "room" and posted.reply.kind == "quiz_question"
    assert posted.reply.title.startswith("Study question · ") and "Everyone may answer once" in posted.reply.text
    assert await env.tick() == []  # fired once
    question = posted.reply
    prefix = button(question, "quiz:answer:").rsplit(":", 1)[0]
    snapshot = env.features.bank.snapshot()
    with env.database.session() as session:
        item = snapshot.get(session.scalars(select(QuizSession)).one().item_ids[0])
    if item.kind == "choice":  # the buttons showing the right choice and another one, wherever they were shown
        right = choice_button(env, question, item.correct_index + 1)
        wrong = choice_button(env, question, 2 if item.correct_index == 0 else 1)
    else:
        right, wrong = (f"{prefix}:{str(value).lower()}" for value in (item.answer, not item.answer))
    await env.click(right, "alice", **ROOM)
    await env.click(wrong, "bob", **ROOM)

    env.restart()  # a new process: the schedule and the open question come from the database
    env.clock.advance(minutes=61)
    [results] = await env.tick()
    text = results.reply.text
    assert results.reply.kind == "quiz_round_result" and "✅ Right: Alice" in text and "❌ Wrong: Bob" in text
    assert "🔥 Streak: 1 in a row" in text and "**Leaderboard:** 1. Alice 1 · 2. Bob 0" in text
    assert "Next question: Mon 02 Mar 20:00 UTC" in text

    env.clock.advance(hours=5)
    [second] = await env.tick()
    assert second.reply.kind == "quiz_question"
    env.clock.advance(minutes=61)
    [results] = await env.tick()
    assert "Nobody answered" in results.reply.text and "Streak reset" in results.reply.text
    [status] = await env.command("/study status", **ROOM)
    assert ("Streak", "0 (best 1)") in status.fields and ("Questions so far", "2") in status.fields


async def test_stats_and_leaderboard_count_real_attempts(env: QuizEnv) -> None:
    async def quiz(user: str, answers: list[int | str], items: list[str], channel: str = "room") -> None:
        env.force_items(*items)
        [question] = await env.command("/quiz", user, channel=channel)
        for answer in answers:
            replies = await env.click(choice_button(env, question, answer) if isinstance(answer, int) else
                                      button(question, "quiz:answer:").rsplit(":", 1)[0] + f":{answer}", user,
                                      channel=channel)
            if len(replies) == 1 and replies[0].buttons:
                [question] = await env.click(button(replies[0], "quiz:next:"), user, channel=channel)

    autograd = ["dynamic-graph-when-built", "dynamic-graph-fixed-reuse"]  # right: 1, false
    tensors = ["tensor-move-to-gpu"]
    tensor_right = env.features.bank.snapshot().get("tensor-move-to-gpu").correct_index + 1
    await quiz("alice", [1, "false"], autograd)
    env.clock.advance(days=1)
    await quiz("alice", [tensor_right % 4 + 1], tensors)  # wrong
    await quiz("bob", [1, "true"], autograd)
    await quiz("carol", [2], autograd[:1], channel="elsewhere")

    [mine] = await env.command("/stats")
    fields = dict(mine.fields)
    assert fields["Attempts"] == "3" and fields["Accuracy"] == "67% (2 of 3)"
    assert fields["Accuracy by topic"] == "autograd 2/2 (100%) · tensors 0/1 (0%)"
    assert fields["Streak"] == "2 days" and fields["Items due"].startswith("0 (of 3 scheduled)")
    [bobs] = await env.command("/stats @Bob", "carol")
    assert dict(bobs.fields)["Accuracy"] == "50% (1 of 2)" and bobs.title == "Stats · Bob"
    [mention] = await env.command("/stats <@bob>", "carol")
    assert mention.title == "Stats · Bob"
    [unknown] = await env.command("/stats @nobody")
    assert unknown.kind == "error" and "@nobody" in unknown.text
    env.clock.advance(days=2)
    [later] = await env.command("/stats")
    assert dict(later.fields)["Streak"] == "0 days" and dict(later.fields)["Items due"].startswith("3 (of 3")

    [board] = await env.command("/leaderboard", **ROOM)
    assert board.kind == "leaderboard" and board.text.splitlines() == [
        "🥇 Alice: 2 correct of 3 (67%)", "🥈 Bob: 1 correct of 2 (50%)"]
    [other] = await env.command("/leaderboard", channel="elsewhere")
    assert other.text == "🥇 Carol: 0 correct of 1 (0%)"
    [empty] = await env.command("/leaderboard", channel="quiet")
    assert "No answers in this channel yet" in empty.text


# --- exactly once across processes --------------------------------------------------------------------------


def process(env: QuizEnv, database: Database, name: str) -> tuple[QuizFeatures, RecordingPoster]:
    """A second 'process': its own engine, services and outbox on the same database and clock."""
    outbox, poster = Outbox(), RecordingPoster()
    outbox.register("console", poster)
    features = QuizFeatures.build(database=database, knowledge=env.runtime.knowledge, encoder=env.runtime.encoder,
                                  outbox=outbox, now=env.clock, scheduler=default_scheduler(fuzz=False),
                                  rng=random.Random(name), owner=name)
    return features, poster


def tick_together(processes: list[QuizFeatures], now: datetime) -> list[Post]:
    """Every process ticks at the same moment from its own thread."""
    barrier = threading.Barrier(len(processes))
    results: list[list[Post]] = [[] for _ in processes]
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = processes[index].study.tick(now, frozenset({"console"}))
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(processes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return [post for result in results for post in result]


async def check_fires_once(env: QuizEnv, url: str) -> None:
    """Four processes tick five due schedules at once, three times over: each question and result once."""
    engines = [Database.from_url(url) for _ in range(4)]
    processes = [process(env, db, f"proc-{i}")[0] for i, db in enumerate(engines)]
    try:
        channels = [f"room-{n}" for n in range(5)]
        for channel in channels:
            alice = Person("alice", "Alice", can_manage_channel=True)
            request = Request(platform="console", user=alice, channel_id=channel, command="study",
                              text="start every 1h", is_direct=False)
            reply = await processes[0].study.study(request)
            assert reply.kind == "study", reply
        start = env.clock()
        for round_number in range(1, 4):
            env.clock.moment = start + timedelta(hours=round_number)
            now = env.clock()
            questions = tick_together(processes, now)
            assert sorted(p.channel_id for p in questions) == channels
            assert all(p.reply.kind == "quiz_question" for p in questions)
            now = env.clock.advance(minutes=31)  # the window of an hourly schedule is 30 minutes
            results = tick_together(processes, now)
            assert sorted(p.channel_id for p in results) == channels
            assert all(p.reply.kind == "quiz_round_result" for p in results)
            with engines[0].session() as session:
                assert session.scalar(select(func.count()).select_from(QuizSession)) == 5 * round_number
                rows = session.scalars(select(StudySchedule)).all()
                assert {row.rounds for row in rows} == {round_number}
                assert all(row.lease_owner is None for row in rows)
    finally:
        for database in engines:
            database.dispose()


async def test_study_tick_fires_once_with_several_processes_on_sqlite(env: QuizEnv) -> None:
    await check_fires_once(env, env.settings.database_url)


@pytest.mark.postgres
async def test_study_tick_fires_once_with_several_processes_on_postgres(env: QuizEnv, postgres_url: str) -> None:
    upgrade(postgres_url)
    await check_fires_once(env, postgres_url)


async def test_a_crashed_claim_is_taken_over_after_its_lease(env: QuizEnv) -> None:
    await env.command("/study start every 2h", **ROOM)
    now = env.clock.advance(hours=2)
    with env.database.transaction() as session:  # a process claimed it, then died before posting
        session.execute(update(StudySchedule).values(lease_owner="dead", lease_until=now + timedelta(minutes=2)))
    assert await env.tick() == []
    env.clock.advance(minutes=3)
    [question] = await env.tick()
    assert question.reply.kind == "quiz_question"


# --- the background loop ------------------------------------------------------------------------------------


async def test_the_loop_posts_due_questions_and_closes_rounds_by_itself(env: QuizEnv) -> None:
    """Real time: a round with a one-second window closes without anyone calling tick."""
    outbox, poster = Outbox(), RecordingPoster()
    outbox.register("console", poster)
    features = QuizFeatures.build(database=env.database, knowledge=env.runtime.knowledge,
                                  encoder=env.runtime.encoder, outbox=outbox,
                                  settings=QuizSettings(round_questions=1, round_window_s=1), tick_s=30)
    features.register(env.runtime.tutor)
    loop = StudyLoop(features.study, interval=30)
    loop.start()
    try:
        await env.command("/study start every 1h", **ROOM)
        with env.database.transaction() as session:
            session.execute(update(StudySchedule).values(next_fire_at=datetime.now(UTC) - timedelta(seconds=1)))
        loop.nudge()
        await asyncio.to_thread(wait_until, lambda: poster.posts, 10, what="the scheduled question")
        assert poster.posts[0].reply.title.startswith("Study question")
        [question] = await env.command("/quiz", **ROOM)
        assert "Team round" in question.text
        await asyncio.to_thread(wait_until, lambda: any(p.reply.kind == "quiz_summary" for p in poster.posts), 10,
                                what="the round's end")
        kinds = [p.reply.kind for p in poster.posts]
        assert kinds[1:] == ["quiz_round_result", "quiz_summary"]
    finally:
        await loop.stop()
    assert loop._task is None
