"""Celery on Redis with a real worker process (`torchtutor worker --backend celery`), never eager mode.

One worker (two pool processes) serves the module, on a claimed Redis database and a fresh PostgreSQL
database; tests kill its pool processes, and the last one kills the whole worker.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from celery.events.state import State

from bot.db.engine import Database
from tests.conftest import cli, fresh_postgres_database
from tests.helpers import wait_until
from tests.jobs_support import (
    CeleryWorker,
    claimed_redis_url,
    collect,
    insert_job,
    migrated_database,
    sample_demos_registered,
)
from workers.celery_app import TASK_NAME, CeleryBackend, make_app, submit
from workers.events import watch
from workers.jobs import FAILED, PROGRESS, RESULT, RUNNING, SUCCEEDED, TIMED_OUT, JobEvent, JobSpec
from workers.store import JobStore

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]


@dataclass
class Setup:
    database: Database
    database_url: str
    queue_url: str
    backend: CeleryBackend
    worker: CeleryWorker

    @property
    def store(self) -> JobStore:
        return self.backend.store


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def setup(postgres_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    database = migrated_database(postgres_database)
    with claimed_redis_url() as queue_url, sample_demos_registered():
        worker = CeleryWorker(database_url=postgres_database, queue_url=queue_url,
                              log_path=tmp_path_factory.mktemp("celery") / "worker.log").start()
        backend = CeleryBackend(database, broker_url=queue_url, reap_margin_s=1.0, reap_every_s=0.5)
        backend.start()
        try:
            yield Setup(database, postgres_database, queue_url, backend, worker)
        finally:
            backend.stop()
            worker.stop()
            database.dispose()


def run(setup: Setup, demo: str, params: dict | None = None) -> JobSpec:  # type: ignore[type-arg]
    spec = insert_job(setup.store, demo, params, backend="celery")
    setup.backend.submit(spec)
    return spec


def follow(setup: Setup, job_id: str, timeout: float = 60) -> list[JobEvent]:
    return asyncio.run(collect(watch(job_id, setup.store, setup.backend.bus, poll_s=0.5), timeout))


def running_pid(setup: Setup, job_id: str) -> int:
    """The pid of the pool process running the job (from the worker name on its row), once the demo reported."""
    def found() -> int | None:
        job = setup.store.get(job_id)
        return int(job.worker.rsplit(":", 1)[1]) if job and job.status == RUNNING and job.stage else None

    return wait_until(found, timeout=60, what=f"job {job_id} to be running")


def test_the_gpu_and_cpu_queues_are_separate() -> None:
    import redis

    with claimed_redis_url() as url:
        app = make_app(broker_url=url, database_url="sqlite://")
        submit(app, JobSpec("g1", "gpu-speedup", {}, 60.0, "gpu"))
        submit(app, JobSpec("c1", "backward-pass", {}, 10.0, "cpu"))
        submit(app, JobSpec("c2", "train-tiny", {}, 30.0, "cpu"))
        client = redis.Redis.from_url(url)
        assert (client.llen("gpu"), client.llen("cpu")) == (1, 2)
        message = json.loads(client.lindex("gpu", 0))
        assert message["headers"]["id"] == "g1" and message["headers"]["task"] == TASK_NAME
        assert message["headers"]["argsrepr"] == "['g1'] demo=gpu-speedup"  # what Flower shows as its args
        assert json.loads(base64.b64decode(message["body"]))[0] == ["g1"]  # only the job id travels
        assert message["headers"]["timelimit"] == [65.0, 60.0]  # hard, soft
        client.close()


def test_the_app_acks_late_takes_one_job_at_a_time_and_recycles_processes() -> None:
    app = make_app(broker_url="redis://127.0.0.1:1/0", database_url="sqlite://", max_tasks_per_child=7)
    conf = app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost and conf.worker_prefetch_multiplier == 1
    assert conf.worker_max_tasks_per_child == 7 and conf.task_ignore_result
    assert conf.worker_send_task_events and conf.task_send_sent_event  # what Flower needs
    assert {queue.name: queue.routing_key for queue in conf.task_queues} == {"gpu": "gpu", "cpu": "cpu"}
    task = app.tasks[TASK_NAME]
    assert task.acks_late and task.reject_on_worker_lost


# First on the module's worker: Flower's events are checked on a worker that has not yet run or lost a job.
def test_flower_sees_each_job_and_its_demo(setup: Setup) -> None:
    app = setup.backend.app
    seen: list[dict[str, Any]] = []
    with app.connection_for_read() as connection:
        receiver = app.events.Receiver(connection, handlers={"*": seen.append})
        listening = threading.Thread(target=receiver.capture, kwargs={"limit": None, "timeout": None}, daemon=True)
        listening.start()
        try:
            # Two: the one the receiver's wake-up asks for, then the worker's own beat, which Flower needs to
            # show the worker online (and which a listener subscribing after the first still gets).
            wait_until(lambda: sum(e["type"] == "worker-heartbeat" for e in seen) >= 2, timeout=30,
                       what="the worker's event heartbeats")
            spec = run(setup, "backward-pass", {"x": [1.0]})
            wait_until(lambda: any(e["type"] == "task-succeeded" and e["uuid"] == spec.job_id for e in seen),
                       timeout=60, what="task-succeeded for the job")
        finally:
            receiver.should_stop = True
            listening.join(timeout=10)
    mine = [e for e in seen if e.get("uuid") == spec.job_id]
    assert {e["type"] for e in mine} == {"task-sent", "task-received", "task-started", "task-succeeded"}
    state = State()  # what Flower keeps
    for event in seen:
        state.event(event)
    task = state.tasks[spec.job_id]
    assert (task.name, task.args, task.state) == (TASK_NAME, f"[{spec.job_id!r}] demo=backward-pass", "SUCCESS")
    assert task.worker is not None and task.worker.hostname.startswith("torchtutor-")


def test_a_learners_snippet_runs_in_the_sandbox_on_a_real_celery_worker(setup: Setup) -> None:
    import shutil

    from tests.services import in_ci
    from workers.sandbox.job import RUN_JOB, STARTUP_S, snippet_params

    if shutil.which("bwrap") is None:
        if in_ci():
            pytest.fail("bubblewrap is not installed; CI needs it (see .ci/run)", pytrace=False)
        pytest.skip("bubblewrap is not installed")
    code = "import torch, os\nx = torch.ones(3, requires_grad=True)\n(2 * x).sum().backward()\n" \
           "print(x.grad.tolist(), os.getuid(), 'TORCHTUTOR_DATABASE_URL' in os.environ)\n"
    with setup.database.transaction() as session:
        job_id = setup.store.insert(session=session, demo=RUN_JOB, params=snippet_params(code), queue="cpu",
                                    backend="celery", time_limit_s=10 + STARTUP_S, platform="test", user_id=None,
                                    channel_id=None)
    setup.backend.submit(JobSpec(job_id, RUN_JOB, snippet_params(code), 10 + STARTUP_S, "cpu"))
    result = follow(setup, job_id, timeout=120)[-1].result
    assert result is not None and result.status == SUCCEEDED, result
    assert result.metrics["outcome"] == "ok" and result.text == "[2.0, 2.0, 2.0] 65534 False\n"


def test_a_demo_runs_on_a_real_celery_worker(setup: Setup) -> None:
    spec = run(setup, "train-tiny", {"steps": 40, "lr": 0.05, "seed": 0})
    events = follow(setup, spec.job_id)
    assert [e.progress for e in events] == sorted(e.progress for e in events)
    assert any(e.kind == PROGRESS for e in events), "no live progress came over Redis"
    result = events[-1].result
    assert result is not None and result.status == SUCCEEDED and len(result.images) == 1
    assert result.metrics["final_loss"] < result.metrics["initial_loss"]
    job = setup.store.get(spec.job_id)
    assert job is not None and job.attempts == 1 and job.worker is not None and job.worker.startswith("torchtutor-")
    assert int(job.worker.rsplit(":", 1)[1]) != setup.worker.process.pid  # type: ignore[union-attr]  # a pool child


def test_demo_run_json_through_celery(setup: Setup) -> None:
    env = {"TORCHTUTOR_WORKER_BACKEND": "celery", "TORCHTUTOR_QUEUE_URL": setup.queue_url,
           "TORCHTUTOR_DATABASE_URL": setup.database_url}
    result = cli("demo", "run", "backward-pass", "--param", "x=1,2", "--json", env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    progress = [line for line in lines if line["event"] == "progress"]
    assert [p["progress"] for p in progress] == sorted(p["progress"] for p in progress)
    assert [line["event"] for line in lines].count("result") == 1 and lines[-1]["event"] == "result"
    final = lines[-1]
    assert set(final) == {"event", "job_id", "status", "device", "text", "code", "images", "metrics", "error"}
    assert final["status"] == "succeeded" and final["metrics"]["grad"] == [5.0, 14.0] and final["error"] is None


def test_sigkill_of_the_pool_process_mid_job_reruns_it_with_exactly_one_result(setup: Setup) -> None:
    spec = run(setup, "test-sleep", {"seconds": 3})
    results: list[JobEvent] = []

    async def listen() -> None:  # every result event anyone publishes for this job
        async with setup.backend.bus.listen(spec.job_id) as inbox:
            while True:
                event = await inbox.next(30)
                if event is None:
                    return
                if event.kind == RESULT:
                    results.append(event)

    async def scenario() -> list[JobEvent]:
        listener = asyncio.create_task(listen())
        pid = await asyncio.to_thread(running_pid, setup, spec.job_id)
        os.kill(pid, signal.SIGKILL)
        events = await collect(watch(spec.job_id, setup.store, setup.backend.bus, poll_s=0.5), 90)
        await asyncio.sleep(2)  # time for any stray second result to show up
        listener.cancel()
        return events

    events = asyncio.run(scenario())
    assert events[-1].status == SUCCEEDED
    job = setup.store.get(spec.job_id)
    assert job is not None and job.status == SUCCEEDED and job.attempts == 2  # re-delivered once, then done
    assert len(results) == 1 and results[0].status == SUCCEEDED
    assert setup.store.images(spec.job_id) == [b"\x89PNG-fake"]
    setup.worker.wait_for_ready_processes(3)  # the killed pool process was replaced


def test_cuda_out_of_memory_fails_the_job_once_and_replaces_the_process(setup: Setup) -> None:
    before = setup.worker.log().count(" ready on ")
    spec = run(setup, "test-oom")
    result = follow(setup, spec.job_id)[-1].result
    assert result is not None and result.status == FAILED
    assert result.error == "the GPU ran out of memory; try smaller parameters"
    setup.worker.wait_for_ready_processes(before + 1)  # a fresh process took the old one's place
    job = setup.store.get(spec.job_id)
    assert job is not None and job.attempts == 1 and job.status == FAILED  # the re-delivery did not run it again


def test_soft_time_limit_ends_a_demo_timed_out(setup: Setup) -> None:
    spec = run(setup, "test-short-limit", {"seconds": 10, "report": False})  # 1 s limit, sleeping quietly
    result = follow(setup, spec.job_id)[-1].result
    assert result is not None and result.status == TIMED_OUT
    assert result.error == "it ran longer than its 1 s time limit"


def test_hard_time_limit_kills_a_demo_that_ignores_the_soft_one(setup: Setup) -> None:
    before = setup.worker.log().count(" ready on ")
    spec = run(setup, "test-stubborn", {"seconds": 30})  # swallows SoftTimeLimitExceeded
    result = follow(setup, spec.job_id, timeout=60)[-1].result
    assert result is not None and result.status == TIMED_OUT
    assert result.error == "it ran longer than its 1 s time limit"
    job = setup.store.get(spec.job_id)
    assert job is not None and job.finished_at is not None and job.started_at is not None
    assert (job.finished_at - job.started_at).total_seconds() < 1 + 5 + 5  # limit + hard margin + slack
    setup.worker.wait_for_ready_processes(before + 1)  # Celery replaced the process it killed


def test_sigkill_of_the_whole_worker_is_reaped_as_failed(setup: Setup) -> None:
    """Last in this module: it kills the shared worker."""
    spec = run(setup, "test-three-seconds", {"seconds": 30})
    running_pid(setup, spec.job_id)
    setup.worker.kill_all()
    events = follow(setup, spec.job_id, timeout=60)
    result = events[-1].result
    assert result is not None and result.status == FAILED and "stopped answering" in (result.error or "")
    job = setup.store.get(spec.job_id)
    assert job is not None and job.finished_at is not None and job.started_at is not None
    # Reaped within the time limit (3 s) + Celery's hard margin (5 s) + the reaper's margin (1 s) + slack.
    assert (job.finished_at - job.started_at).total_seconds() < 3 + 5 + 1 + 3
