"""A restart mid-demo: the job runs on a Celery worker, so it outlives the bot process; the new process serves
its one result.

`torchtutor serve` with the Celery backend and a real `torchtutor worker` process: start a slow test demo,
SIGTERM the server while it runs, start a new server on the same PostgreSQL and Redis. Over HTTP the job ends
succeeded, with one result, one run, and one `result` event on the new process's SSE stream; on Slack (signed
requests in, a loopback Web API out) the new process picks up the demo's message and edits it to the result,
once, without posting anything anew.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.db.job_models import Job, JobImage
from tests.conftest import fresh_postgres_database
from tests.fakes.slack_api import FakeSlack, form_body, sign
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


SLACK_SECRET = "restart-signing-secret"
CHANNEL = "CRESTART"


def slack_slash_command(fake: FakeSlack, command: str, text: str) -> tuple[str, dict[str, str]]:
    """A signed slash command as Slack sends it (the documented fields torchtutor reads)."""
    body = form_body({"token": "legacy", "team_id": "T0001", "team_domain": "example", "channel_id": CHANNEL,
                      "channel_name": "restart", "user_id": "U2147483697", "user_name": "steve",
                      "command": command, "text": text, "response_url": fake.response_url(),
                      "trigger_id": "13345224609.738474920.8088930838d88f008e0", "api_app_id": "A123456"})
    return body, {"Content-Type": "application/x-www-form-urlencoded", **sign(SLACK_SECRET, body)}


def test_a_slack_demo_message_is_picked_up_after_a_restart_and_finished_once(tmp_path: Path) -> None:
    with fresh_postgres_database() as database_url, claimed_redis_url() as queue_url, FakeSlack() as fake:
        fake.add_user("U2147483697", "Steve")
        database = migrated_database(database_url)
        worker = CeleryWorker(database_url=database_url, queue_url=queue_url, log_path=tmp_path / "worker.log",
                              concurrency=1).start()
        env = {"TORCHTUTOR_DATABASE_URL": database_url, "TORCHTUTOR_QUEUE_URL": queue_url,
               "TORCHTUTOR_WORKER_BACKEND": "celery", "TORCHTUTOR_DEMO_MODULES": sample_demos.MODULE,
               "TORCHTUTOR_SLACK_SIGNING_SECRET": SLACK_SECRET, "TORCHTUTOR_SLACK_BOT_TOKEN": "xoxb-test-token",
               "TORCHTUTOR_SLACK_API_URL": fake.api_url, "TORCHTUTOR_SLACK_COMMAND_PREFIX": "tt-"}

        def message() -> str:
            return str([m for (channel, _), m in fake.messages.items() if channel == CHANNEL])

        try:
            with serving(env=env) as first:
                body, headers = slack_slash_command(fake, "/tt-demo", f"test-sleep seconds={SECONDS * 3:g}")
                assert httpx.post(f"{first.url}/slack/events", content=body, headers=headers,
                                  timeout=10).status_code == 200
                wait_until(lambda: "step" in message(), timeout=60, interval=0.1, what="a progress update")
                stopping = time.monotonic()
                first.process.send_signal(signal.SIGTERM)
                assert first.process.wait(timeout=30) == 0
                stop_seconds = time.monotonic() - stopping
            with serving(env=env):
                wait_until(lambda: "slept" in message(), timeout=90, interval=0.1, what="the result on Slack")
                time.sleep(1.5)  # nothing more may arrive after the result
        finally:
            worker.stop()
        try:
            with database.session() as session:
                job = session.scalars(select(Job)).one()
                session.expunge(job)
        finally:
            database.dispose()
    posts = [c for c in fake.calls_to("chat.postMessage") if c.args.get("channel") == CHANNEL]
    updates = [c for c in fake.calls_to("chat.update") if c.args.get("channel") == CHANNEL]
    assert len(posts) == 1, "the message is posted once, and only edited after the restart"
    assert {c.args["ts"] for c in updates} == {fake.message_ts(CHANNEL)[0]}
    results = [c for c in updates if "slept" in str(c.args)]
    assert len(results) == 1 and results[0] is updates[-1], "the result arrives once, last"
    assert len(fake.calls_to("files.completeUploadExternal")) == 1, "its plot is uploaded once"
    assert job.status == "succeeded" and job.attempts == 1 and job.delivered_at is not None, job
    assert stop_seconds < 10, f"SIGTERM hands the message back rather than waiting for the demo ({stop_seconds:.1f}s)"
