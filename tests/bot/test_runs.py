"""`/run` through the Tutor: off by default, per-channel opt-in by channel admins, refusals in one line before any
job exists, the demos' limits, and a real snippet run in the sandbox into one message."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.core.conversation import Person, Reply, Request
from bot.core.demos.snippet_replies import render_run_result
from bot.core.demos.snippets import SandboxGate, extract_code
from bot.db.engine import Database
from bot.db.job_models import Job
from bot.db.models import Channel, User
from bot.runtime import Runtime, build_runtime
from tests.jobs_support import HoldBackend, ThreadBackend, sample_demos_registered
from tests.services import in_ci
from workers.jobs import FAILED, SUCCEEDED, JobResult
from workers.sandbox import Jail, SandboxUnavailable
from workers.sandbox import job as run_job_module
from workers.sandbox.job import CODE_LIMIT

SNIPPET = "import torch; x = torch.randn(3, 3, requires_grad=True); (x ** 2).sum().backward(); print(x.grad)"


@pytest.fixture
def database(migrated) -> Iterator[Database]:  # type: ignore[no-untyped-def]
    database = Database.from_url(migrated.database_url)
    with sample_demos_registered():
        yield database
    database.dispose()


def make_runtime(settings, embedder, database: Database, backend: Any, **changes: Any) -> Runtime:  # type: ignore[no-untyped-def]
    runtime = build_runtime(settings.model_copy(update=changes), encoder=embedder, database=database,
                            backend=backend)
    runtime.demos.edit_interval = 0.2
    runtime.demos.poll_s = 0.2
    return runtime


@pytest.fixture
def bwrap() -> None:
    if shutil.which("bwrap") is None:
        if in_ci():
            pytest.fail("bubblewrap is not installed; CI needs it (see .ci/run)", pytrace=False)
        pytest.skip("bubblewrap is not installed (apt-get install bubblewrap)")


def request(text: str, *, platform: str = "discord", user: str = "alice", manager: bool = False,
            channel: str = "c1") -> Request:
    return Request(platform=platform, user=Person(user, user.title(), can_manage_channel=manager),
                   channel_id=channel, workspace_id="g1", command="run", text=text)


def say(runtime: Runtime, text: str, **kwargs: Any) -> list[Reply]:
    return asyncio.run(asyncio.wait_for(runtime.tutor.collect(request(text, **kwargs)), 120))


def first_reply(runtime: Runtime, text: str, **kwargs: Any) -> Reply:
    """The first reply only (a held job's message would otherwise be followed for ever)."""

    async def take() -> Reply:
        replies = runtime.tutor.handle(request(text, **kwargs))
        try:
            return await replies.__anext__()
        finally:
            await replies.aclose()

    return asyncio.run(asyncio.wait_for(take(), 60))


def jobs(database: Database) -> list[Job]:
    with database.session() as session:
        return list(session.scalars(select(Job).order_by(Job.created_at)))


# --- off until both switches are on --------------------------------------------------------------------------


def test_run_is_off_by_default_and_says_so_in_one_line(migrated, embedder, database: Database) -> None:  # type: ignore[no-untyped-def]
    runtime = make_runtime(migrated, embedder, database, HoldBackend())
    assert runtime.settings.run_enabled is False
    [refusal] = say(runtime, "print('hi')", platform="console")
    assert refusal.ephemeral and refusal.kind == "error"
    assert refusal.text == "`/run` is switched off on this bot (its operator can set TORCHTUTOR_RUN_ENABLED=true)."
    assert jobs(database) == []


def test_a_channel_must_be_turned_on_by_someone_who_can_manage_it(migrated, embedder, database: Database,
                                                                 bwrap) -> None:  # type: ignore[no-untyped-def]
    runtime = make_runtime(migrated, embedder, database, HoldBackend(), run_enabled=True)
    [refusal] = say(runtime, "print('hi')")
    assert refusal.text == "`/run` is not turned on in this channel; a channel admin can turn it on with `/run on`."
    [status] = say(runtime, "status")
    assert status.text == "`/run` is **off** in this channel."
    [denied] = say(runtime, "on", user="mallory")
    assert denied.kind == "error" and "only someone who can manage this channel" in denied.text
    [turned_on] = say(runtime, "on", user="owner", manager=True)
    assert turned_on.text == "`/run` is **on** in this channel."
    [other_channel] = say(runtime, "print('hi')", channel="c2")
    assert "not turned on in this channel" in other_channel.text
    assert jobs(database) == []
    queued = first_reply(runtime, "print('hi')")
    assert queued.title == "Your snippet" and "Queued" in queued.text
    [turned_off] = say(runtime, "OFF", user="owner", manager=True)
    assert turned_off.text == "`/run` is **off** in this channel."
    assert "not turned on" in say(runtime, "print('again')")[0].text
    assert len(jobs(database)) == 1


def test_the_terminal_counts_as_turned_on(migrated, embedder, database: Database) -> None:  # type: ignore[no-untyped-def]
    runtime = make_runtime(migrated, embedder, database, HoldBackend(), run_enabled=True)
    [status] = say(runtime, "status", platform="console")
    assert status.text == "`/run` is **on** in this channel."
    assert "Queued" in first_reply(runtime, "print(1)", platform="console").text


def test_without_a_working_sandbox_nothing_is_queued(migrated, embedder, database: Database) -> None:  # type: ignore[no-untyped-def]
    runtime = make_runtime(migrated, embedder, database, HoldBackend(), run_enabled=True)
    runs = runtime.tutor._commands["run"].__self__  # type: ignore[attr-defined]
    runs.sandbox = SandboxGate(Jail(bwrap="/nonexistent/bwrap").check)
    [refusal] = say(runtime, "print(1)", platform="console")
    assert refusal.text == "`/run` is unavailable: bubblewrap (bwrap) is not installed on this worker, so /run is " \
                           "switched off."
    assert jobs(database) == []


def test_runs_share_the_demos_per_person_limit(migrated, embedder, database: Database) -> None:  # type: ignore[no-untyped-def]
    runtime = make_runtime(migrated, embedder, database, HoldBackend(), run_enabled=True)
    for _ in range(2):
        runtime.demos.start_demo(request("", platform="console"), "backward-pass", {})
    [refusal] = say(runtime, "print(1)", platform="console")
    assert refusal.text == "Sorry, you already have 2 demo job(s) waiting or running. Try again in a minute."
    assert len(jobs(database)) == 2


# --- a real run --------------------------------------------------------------------------------------------------


def test_a_snippet_runs_in_the_sandbox_into_one_message_and_is_recorded(  # type: ignore[no-untyped-def]
        migrated, embedder, database: Database, bwrap: None) -> None:
    runtime = make_runtime(migrated, embedder, database, ThreadBackend(database), run_enabled=True)
    say(runtime, "on", user="owner", manager=True)
    replies = say(runtime, f"```python\n{SNIPPET}\n```")
    first, final = replies[0], replies[-1]
    assert first.buttons[0].id.startswith("job:cancel:")
    assert all(reply.edits == first.id for reply in replies[1:])
    assert final.kind == "job_result" and final.buttons == ()
    assert final.text.startswith("✅ **Finished**\n**Output**\n```\ntensor([[")
    assert dict(final.fields)["Device"] == "CPU (this worker has no GPU)"
    sha = hashlib.sha256((SNIPPET + "\n").encode()).hexdigest()
    assert dict(final.fields)["Code"] == f"sha256 {sha[:12]}"
    [job] = jobs(database)
    assert (job.demo, job.status, job.params["code_sha256"]) == ("run", SUCCEEDED, sha)
    assert job.result is not None and job.result["metrics"]["outcome"] == "ok"
    with database.session() as session:
        user = session.get(User, job.user_id)
        channel = session.get(Channel, job.channel_id)
        assert (user.platform, user.platform_user_id) == ("discord", "alice")
        assert (channel.workspace_id, channel.platform_channel_id) == ("g1", "c1")


def test_a_failing_snippet_shows_its_exception_and_a_plot_comes_back(  # type: ignore[no-untyped-def]
        migrated, embedder, database: Database, bwrap: None) -> None:
    runtime = make_runtime(migrated, embedder, database, ThreadBackend(database), run_enabled=True)
    final = say(runtime, "print('about to fail')\nname = input('name? ')", platform="console")[-1]
    assert final.text.startswith("❌ **Error**: EOFError: this runner has no keyboard")
    assert "about to fail" in final.text and "**Errors**" in final.text
    final = say(runtime, "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])", platform="console")[-1]
    assert [image.filename for image in final.images] == ["figure-1.png"]
    assert final.images[0].data.startswith(b"\x89PNG")
    assert "_It printed nothing._" in final.text


def test_a_worker_without_a_sandbox_fails_the_run_without_running_it(  # type: ignore[no-untyped-def]
        migrated, embedder, database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_job_module, "worker_jail", lambda: Jail(bwrap="/nonexistent/bwrap"))
    runtime = make_runtime(migrated, embedder, database, ThreadBackend(database), run_enabled=True)
    runs = runtime.tutor._commands["run"].__self__  # type: ignore[attr-defined]
    runs.sandbox = SandboxGate(None)  # as with Celery: the bot cannot check the workers' machines
    final = say(runtime, "print(1)", platform="console")[-1]
    assert final.text == "❌ **Not run**: bubblewrap (bwrap) is not installed on this worker, so /run is switched off"
    [job] = jobs(database)
    assert job.status == FAILED


# --- pieces ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "code"), [
    ("print(1)", "print(1)\n"),
    ("```python\nimport torch\nprint(torch.ones(2))\n```", "import torch\nprint(torch.ones(2))\n"),
    ("look:\n```py\nx = 1\n```\nthanks", "x = 1\n"),
    ("```\nx = 2\n```", "x = 2\n"),
    ("`print(3)`", "print(3)\n"),
])
def test_the_code_is_the_first_code_block_or_the_text(text: str, code: str) -> None:
    assert extract_code(text) == code


@pytest.mark.parametrize(("text", "message"), [
    ("```python\n```", "There is no code to run."),
    ("x" * (CODE_LIMIT + 1), f"takes up to {CODE_LIMIT}"),
])
def test_unusable_code_is_refused_in_one_line(text: str, message: str) -> None:
    from bot.core.errors import BadInput

    with pytest.raises(BadInput, match=message):
        extract_code(text)


def test_long_output_is_trimmed_and_cannot_break_out_of_its_block() -> None:
    first = Reply("queued", title="Your snippet", id="m1")
    result = JobResult("j1", SUCCEEDED, device="cpu", text="```\n@everyone\n" + "line\n" * 1000,
                       metrics={"outcome": "output_limit", "reason": "it printed more than 1 MB, so it was stopped",
                                "stderr": "", "seconds": 0.5, "code_sha256": "ab" * 32, "device_name": "CPU"})
    final = render_run_result(first, result)
    assert final.edits == "m1"
    assert final.text.startswith("📜 **Stopped**: it printed more than 1 MB, so it was stopped\n**Output**\n```\n")
    assert final.text.count("```") == 2  # the snippet's own fence is neutralised
    assert "@everyone" not in final.text
    assert "more characters" in final.text and len(final.text) < 2000
    assert final.text.split("```")[1].endswith("line\n")  # cut between lines
    [attached] = final.images
    assert attached.filename == "output.txt" and attached.data.decode() == result.text  # the whole text


def test_short_output_needs_no_attachment_and_figures_keep_their_order() -> None:
    result = JobResult("j1", SUCCEEDED, text="ok\n", images=(b"\x89PNG one", b"\x89PNG two"),
                       metrics={"outcome": "ok", "stderr": "", "seconds": 1.0, "code_sha256": "cd" * 32})
    final = render_run_result(Reply("queued"), result)
    assert [(i.filename, i.data) for i in final.images] == [("figure-1.png", b"\x89PNG one"),
                                                            ("figure-2.png", b"\x89PNG two")]
    assert final.text == "✅ **Finished**\n**Output**\n```\nok\n```"


def test_a_sandbox_failure_reads_as_not_run() -> None:
    final = render_run_result(Reply("queued"), JobResult("j1", FAILED, error="the sandbox failed its self-test"))
    assert final.text == "❌ **Not run**: the sandbox failed its self-test"


def test_a_run_is_no_demo() -> None:
    from bot.core.demos.live import UnknownDemoName, resolve_demo
    from workers.demos import list_demos

    assert "run" not in [demo.name for demo in list_demos()]
    with pytest.raises(UnknownDemoName):
        resolve_demo("run")  # `/demo run` cannot start a snippet job


def test_a_runs_message_is_resumed_by_the_next_process_as_a_run(migrated, embedder, database: Database) -> None:  # type: ignore[no-untyped-def]
    from bot.db.job_followers import Orphan
    from workers.sandbox.job import SNIPPET as RUN_DEMO

    runtime = make_runtime(migrated, embedder, database, HoldBackend(), run_enabled=True)
    orphan = Orphan("j1", "run", {"code": "print(1)\n", "code_sha256": "ab"}, "discord", "m1", {})
    started = runtime.demos.resumed(orphan)
    assert started.demo is RUN_DEMO and started.message_ref == "m1"


def test_the_gate_keeps_success_and_rechecks_failure() -> None:
    calls: list[int] = []

    def failing() -> None:
        calls.append(1)
        raise SandboxUnavailable("bwrap is missing")

    gate = SandboxGate(failing)
    assert gate.problem() == "bwrap is missing" and gate.problem() == "bwrap is missing"
    assert len(calls) == 1  # not re-run on every command
    ok = SandboxGate(lambda: None)
    assert ok.problem() is None and ok.problem() is None
