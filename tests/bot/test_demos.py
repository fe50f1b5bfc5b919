"""`/demo` through the Tutor: the reply stream every adapter renders, refusals, limits and cancellation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.core.conversation import Person, Reply, Request
from bot.core.demos.live import (
    DemoJobs,
    JobLimits,
    in_line,
    parse_demo_args,
    progress_bar,
    render_params,
    shorten_code,
    throttle,
)
from bot.core.errors import BadInput
from bot.db.engine import Database
from bot.db.job_models import Job
from bot.runtime import Runtime, build_runtime
from tests.jobs_support import HoldBackend, ThreadBackend, collect, sample_demos_registered
from workers.demos import list_demos
from workers.jobs import PROGRESS, RESULT, RUNNING, JobEvent

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def database(migrated) -> Iterator[Database]:  # type: ignore[no-untyped-def]
    database = Database.from_url(migrated.database_url)
    with sample_demos_registered():
        yield database
    database.dispose()


def make_runtime(settings, embedder, database: Database, backend: Any) -> Runtime:  # type: ignore[no-untyped-def]
    runtime = build_runtime(settings, encoder=embedder, database=database, backend=backend)
    runtime.demos.edit_interval = 0.2
    runtime.demos.poll_s = 0.2
    return runtime


@pytest.fixture
def running(migrated, embedder, database: Database) -> Runtime:  # type: ignore[no-untyped-def]
    """A runtime whose jobs run on threads of this process."""
    return make_runtime(migrated, embedder, database, ThreadBackend(database))


@pytest.fixture
def holding(migrated, embedder, database: Database) -> Runtime:  # type: ignore[no-untyped-def]
    """A runtime whose jobs stay queued."""
    return make_runtime(migrated, embedder, database, HoldBackend())


def request(text: str = "", *, user: str = "alice", admin: bool = False, action: str | None = None) -> Request:
    return Request(platform="console", user=Person(user, user.title(), is_admin=admin), channel_id="c1",
                   command="demo", text=text, action=action)


def say(runtime: Runtime, text: str = "", **kwargs: Any) -> list[Reply]:
    return asyncio.run(asyncio.wait_for(runtime.tutor.collect(request(text, **kwargs)), 90))


def click(runtime: Runtime, action: str, **kwargs: Any) -> list[Reply]:
    return say(runtime, action=action, **kwargs)


def job_count(database: Database) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(Job)) or 0)


# --- the catalogue and the stream -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "list", "LIST"])
def test_demo_alone_lists_the_catalogue_with_a_run_button_each(holding: Runtime, text: str) -> None:
    [reply] = say(holding, text)
    names = [demo.name for demo in list_demos()]
    assert reply.kind == "demo_list" and not reply.ephemeral
    assert [b.id for b in reply.buttons] == [f"demo:run:{name}" for name in names]
    assert all(f"`{name}`" in reply.text for name in names)


def test_a_demo_is_one_message_edited_as_it_runs_and_ending_with_its_result(running: Runtime) -> None:
    replies = say(running, "train-tiny steps=60 seed=1")
    first, *edits = replies
    assert first.edits is None and first.title == "Train a tiny network" and not first.ephemeral
    assert "Queued" in first.text and "`steps=60`" in first.text and first.kind == "job"
    [cancel] = first.buttons
    assert cancel.id.startswith("job:cancel:") and cancel.label == "Cancel"
    assert edits and all(edit.edits == first.id and edit.id != first.id for edit in edits)
    assert len({edit.id for edit in edits}) == len(edits)
    waiting = [edit for edit in edits[:-1] if "⏳" in edit.text]
    assert all("in line" in edit.text for edit in waiting)  # its place in the queue, once it is known
    progress = edits[len(waiting):-1]
    assert progress and all(edit.buttons == first.buttons and "%" in edit.text for edit in progress)
    assert first.progress is not None and (first.progress.fraction, first.progress.done) == (0.0, False)
    fractions = [edit.progress.fraction for edit in progress if edit.progress is not None]
    assert len(fractions) == len(progress) and fractions == sorted(fractions)  # a field, rising as it runs
    final = edits[-1]
    assert final.progress is not None and (final.progress.fraction, final.progress.done) == (1.0, True)
    assert final.kind == "job_result" and final.buttons == () and final.title == first.title
    assert "**Train a tiny MLP**" in final.text and "```python\ndef train_mlp(" in final.text
    assert dict(final.fields)["Device"] == "cpu" and "final_loss" in dict(final.fields)
    assert len(final.images) == 1 and final.images[0].data.startswith(PNG)


def test_the_run_the_demo_button_runs_it_with_its_defaults(running: Runtime) -> None:
    replies = click(running, "demo:run:backward-pass")
    assert "`x=1,2,3`" in replies[0].text
    assert replies[-1].kind == "job_result" and "x = [1, 2, 3]" in replies[-1].text


def test_a_failed_job_ends_its_message_with_the_reason(running: Runtime) -> None:
    final = say(running, "test-boom")[-1]
    assert final.kind == "job_result" and final.buttons == ()
    assert "**Failed**: the demo raised ValueError: boom" in final.text


# --- refusals ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "reason"), [
    ("backward-pass x=1,500", "backward-pass: parameter 'x': item 2: must be between -100 and 100, got 500"),
    ("backward-pass y=1", "backward-pass: parameter 'y': unknown parameter; backward-pass takes: x"),
    ("train-tiny steps=abc", "train-tiny: parameter 'steps': expected a whole number, got 'abc'"),
    ("train-tiny steps=1 steps=2", "Parameter `steps` is given twice."),
    ("backward-pass 1,2", "Expected key=value after the demo name, got `1,2`."),
    ('backward-pass x="1,2', "I couldn't read that (No closing quotation)."),
    ("backwards-pass", "I don't know a demo called `backwards-pass`. Did you mean `backward-pass`?"),
])
def test_bad_input_is_refused_in_one_line_before_any_job_exists(holding: Runtime, database: Database, text: str,
                                                                 reason: str) -> None:
    [reply] = say(holding, text)
    assert reply.ephemeral and reply.kind == "error" and "\n" not in reply.text
    assert reply.text.startswith(reason)
    assert job_count(database) == 0 and holding.demos.backend.submitted == []  # type: ignore[attr-defined]


def test_values_with_spaces_are_kept_together() -> None:
    assert parse_demo_args("backward-pass x=1, 2, 3") == ("backward-pass", {"x": "1, 2, 3"})
    assert parse_demo_args("train-tiny lr=0.01 steps=5") == ("train-tiny", {"lr": "0.01", "steps": "5"})


def test_one_person_may_not_hold_more_than_their_share_of_jobs(holding: Runtime, database: Database) -> None:
    for _ in range(2):
        holding.demos.start_demo(request(user="alice"), "backward-pass", {})
    [refusal] = say(holding, "backward-pass", user="alice")
    assert refusal.ephemeral and refusal.kind == "error"
    assert refusal.text == "Sorry, you already have 2 demo job(s) waiting or running. Try again in a minute."
    assert job_count(database) == 2
    assert holding.demos.start_demo(request(user="bob"), "backward-pass", {}).job_id  # bob has his own share


def test_the_queue_is_bounded_for_everyone(migrated, embedder, database: Database) -> None:  # type: ignore[no-untyped-def]
    runtime = make_runtime(migrated, embedder, database, HoldBackend())
    runtime.demos.limits = JobLimits(per_person=5, queue=3)
    for user in ("u1", "u2", "u3"):
        runtime.demos.start_demo(request(user=user), "backward-pass", {})
    [refusal] = say(runtime, "backward-pass", user="u4")
    assert refusal.text == "Sorry, the demo queue already holds 3 demo job(s) waiting or running. Try again in a " \
                           "minute."
    assert job_count(database) == 3


def test_an_unreachable_backend_fails_the_job_and_says_so(migrated, embedder, database: Database) -> None:  # type: ignore[no-untyped-def]
    runtime = make_runtime(migrated, embedder, database, HoldBackend(fail_submit=True))
    [reply] = say(runtime, "backward-pass")
    assert reply.ephemeral and "can't be reached" in reply.text
    with database.session() as session:
        job = session.scalars(select(Job)).one()
    assert job.status == "failed" and job.error == "the job queue could not be reached (ConnectionError)"


# --- cancellation ------------------------------------------------------------------------------------------------


def test_only_the_requester_or_an_admin_may_cancel(holding: Runtime) -> None:
    store, backend = holding.demos.store, holding.demos.backend
    job = holding.demos.start_demo(request(user="alice"), "backward-pass", {})
    [refusal] = click(holding, f"job:cancel:{job.job_id}", user="bob")
    assert refusal.ephemeral and refusal.text == "Sorry, only the person who started this demo (or an admin) can " \
                                                 "cancel it."
    assert store.get(job.job_id).status == "queued" and backend.cancelled == []  # type: ignore[union-attr, attr-defined]
    [done] = click(holding, f"job:cancel:{job.job_id}", user="carol", admin=True)
    assert done.ephemeral and done.text == "Cancelling the demo…"
    snapshot = store.get(job.job_id)
    assert snapshot is not None and snapshot.status == "cancelled" and snapshot.error == "cancelled by Carol"
    assert backend.cancelled == [job.job_id]  # type: ignore[attr-defined]
    [again] = click(holding, f"job:cancel:{job.job_id}", user="alice")
    assert again.text == "That demo has already finished (it was cancelled), so there is nothing to cancel."
    own = holding.demos.start_demo(request(user="alice"), "backward-pass", {})
    assert click(holding, f"job:cancel:{own.job_id}", user="alice")[0].text == "Cancelling the demo…"
    assert click(holding, "job:cancel:nope", user="alice")[0].text == "I can't find that demo job any more."
    assert click(holding, "job:cancel:", user="alice")[0].text == "That job button is malformed."


def test_cancelling_while_it_runs_ends_the_message_cancelled(running: Runtime) -> None:
    async def scenario() -> list[Reply]:
        replies: list[Reply] = []
        async for reply in running.tutor.handle(request("test-sleep seconds=20")):
            replies.append(reply)
            if len(replies) == 1:
                job_id = reply.buttons[0].id.split(":")[-1]
                await asyncio.to_thread(running.demos.cancel_job, job_id, Person("alice", "Alice"), "console")
        return replies

    replies = asyncio.run(asyncio.wait_for(scenario(), 60))
    final = replies[-1]
    assert final.edits == replies[0].id and final.kind == "job_result" and final.buttons == ()
    assert "**Cancelled**: cancelled by Alice" in final.text


def test_a_waiting_demo_shows_its_place_in_line_as_the_queue_moves(holding: Runtime) -> None:
    ahead = [holding.demos.start_demo(request(user=user), "backward-pass", {}) for user in ("bob", "carol")]
    admin = Person("ada", "Ada", is_admin=True)

    async def scenario() -> list[Reply]:
        replies: list[Reply] = []
        async for reply in holding.tutor.handle(request("backward-pass x=3")):
            replies.append(reply)
            if "in line" in reply.text and ahead:  # the queue moves: the job in front leaves it
                await asyncio.to_thread(holding.demos.cancel_job, ahead.pop(0).job_id, admin, "console")
            elif "next in line" in reply.text:
                job_id = replies[0].buttons[0].id.split(":")[-1]
                await asyncio.to_thread(holding.demos.cancel_job, job_id, admin, "console")
        return replies

    replies = asyncio.run(asyncio.wait_for(scenario(), 60))
    waits = [reply.text.split("⏳ ", 1)[1] for reply in replies if "⏳" in reply.text]
    assert waits == ["Queued: waiting for a free worker.", "Queued: 3rd in line.", "Queued: 2nd in line.",
                     "Queued: next in line."]
    assert replies[-1].kind == "job_result" and "**Cancelled**" in replies[-1].text


def test_places_in_line_read_as_ordinals() -> None:
    assert [in_line(n) for n in (None, 1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111)] == [
        "waiting for a free worker", "next in line", "2nd in line", "3rd in line", "4th in line", "11th in line",
        "12th in line", "13th in line", "21st in line", "22nd in line", "23rd in line", "101st in line",
        "111th in line"]


def test_a_subscriber_that_joins_after_a_restart_gets_the_final_state(running: Runtime, database: Database) -> None:
    say(running, "backward-pass x=2")
    with database.session() as session:
        job_id = session.scalars(select(Job.id)).one()
    restarted = DemoJobs(database, HoldBackend())  # a new process: nothing in memory, a new bus
    events = asyncio.run(collect(restarted.events(job_id), timeout=10))
    assert len(events) == 1 and events[0].kind == RESULT and events[0].result is not None
    assert events[0].result.metrics["grad"] == [14.0]


# --- pieces ------------------------------------------------------------------------------------------------------


async def test_throttle_passes_at_most_one_event_per_interval_and_the_result_at_once() -> None:
    async def source() -> AsyncIterator[JobEvent]:
        for n in range(40):
            yield JobEvent("j", PROGRESS, RUNNING, n / 40, f"step {n}")
            await asyncio.sleep(0.01)
        yield JobEvent("j", RESULT, "succeeded", 1.0)

    start = time.monotonic()
    passed = [event async for event in throttle(source(), 0.15)]
    elapsed = time.monotonic() - start
    assert passed[0].stage == "step 0" and passed[-1].kind == RESULT
    assert len(passed) - 1 <= elapsed / 0.15 + 1
    assert [e.progress for e in passed] == sorted(e.progress for e in passed)


async def test_throttle_shows_a_held_back_event_once_the_interval_is_over() -> None:
    async def source() -> AsyncIterator[JobEvent]:
        yield JobEvent("j", PROGRESS, RUNNING, 0.1, "first")
        yield JobEvent("j", PROGRESS, RUNNING, 0.2, "held back")
        await asyncio.sleep(0.5)
        yield JobEvent("j", RESULT, "succeeded", 1.0)

    stages = [event.stage async for event in throttle(source(), 0.1)]
    assert stages == ["first", "held back", ""]


def test_rendering_helpers() -> None:
    assert progress_bar(0.5) == "██████░░░░░░ 50%" and progress_bar(2) == "████████████ 100%"
    assert render_params({}) == "No parameters."
    assert render_params({"x": [1.0, 2.5], "pinned": True, "lr": 0.001}) == \
        "Parameters: `x=1,2.5` `pinned=true` `lr=0.001`"
    code = "\n".join(f"line_{n} = {n}" for n in range(300))
    short = shorten_code(code)
    assert len(short) <= 1250 and short.endswith("more lines\n") and "line_0 = 0\n" in short
    assert all(line.startswith(("line_", "# …")) for line in short.splitlines())
    with pytest.raises(BadInput):
        parse_demo_args("train-tiny =5")
