"""A restart mid-demo: the job runs on a Celery worker, so it outlives the bot process; the new process serves
its one result.

`torchtutor serve` (the HTTP face) with the Celery backend and a real `torchtutor worker` process: start a slow
test demo, SIGTERM the server while it runs, start a new server on the same PostgreSQL and Redis, and check the job
ends succeeded, with one result, one run, and one `result` event on the new process's SSE stream.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.db.job_models import JobImage
from tests.conftest import fresh_postgres_database
from tests.helpers import serving, wait_until
from tests.jobs_support import CeleryWorker, claimed_redis_url, migrated_database
from tests.workers import sample_demos

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

SECONDS = 6.0


def sse(lines: Any) -> list[tuple[str, dict[str, Any]]]:
    events, name = [], None
    for line in lines:
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: ") and name is not None:
            events.append((name, json.loads(line[len("data: "):])))
    return events


def test_a_demo_started_before_a_restart_reports_its_result_once_after_it(tmp_path: Path) -> None:
    with fresh_postgres_database() as database_url, claimed_redis_url() as queue_url:
        database = migrated_database(database_url)
        worker = CeleryWorker(database_url=database_url, queue_url=queue_url, log_path=tmp_path / "worker.log",
                              concurrency=1).start()
        env = {"TORCHTUTOR_DATABASE_URL": database_url, "TORCHTUTOR_QUEUE_URL": queue_url,
               "TORCHTUTOR_WORKER_BACKEND": "celery", "TORCHTUTOR_DEMO_MODULES": sample_demos.MODULE,
               "TORCHTUTOR_LOG_FORMAT": "json"}
        try:
            with serving(env=env) as first:
                started = httpx.post(f"{first.url}/api/v1/demos/test-sleep/jobs",
                                     json={"params": {"seconds": SECONDS}}, timeout=30)
                assert started.status_code == 202, started.text
                job_id = started.json()["job_id"]

                def running() -> bool:
                    job = httpx.get(f"{first.url}/api/v1/jobs/{job_id}", timeout=10).json()
                    return job["status"] == "running" and job["progress"] > 0

                wait_until(running, timeout=60, interval=0.1, what="the demo to be running")
                first.process.send_signal(signal.SIGTERM)
                assert first.process.wait(timeout=30) == 0  # gone; the worker keeps running the job
            with serving(env=env) as second:
                assert httpx.get(f"{second.url}/api/v1/jobs/{job_id}", timeout=10).json()["status"] in {
                    "running", "succeeded"}
                with httpx.stream("GET", f"{second.url}/api/v1/jobs/{job_id}/events", timeout=60) as stream:
                    events = sse(stream.iter_lines())
                job = httpx.get(f"{second.url}/api/v1/jobs/{job_id}", timeout=10).json()
        finally:
            worker.stop()
        try:
            with database.session() as session:
                images = session.scalar(select(func.count()).select_from(JobImage).where(JobImage.job_id == job_id))
        finally:
            database.dispose()
    kinds = [name for name, _ in events]
    assert kinds.count("result") == 1 and kinds[-1] == "result", kinds
    assert events[-1][1]["status"] == "succeeded"
    assert job["status"] == "succeeded" and job["attempts"] == 1, job  # ran once: no redelivery, no rerun
    assert images == 1  # one result written
