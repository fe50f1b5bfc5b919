"""The metric seams are wired: a demo job, a quiz answer and a platform API error move /metrics."""

from __future__ import annotations

from types import SimpleNamespace

import discord
from fastapi.testclient import TestClient

from bot.adapters.api_errors import api_error_kind
from bot.adapters.discord.delivery import Delivery
from bot.metrics import Metrics
from bot.web.app import create_app
from tests.bot.quiz_fixtures import QuizEnv, cache_fixture, choice_button, env_fixture  # noqa: F401
from tests.bot.test_jobs_api import client_for, sse
from tests.ops.test_metrics import samples

CHOICE = "dynamic-graph-when-built"  # right answer: A (1)


def test_a_demo_job_shows_in_the_jobs_queue_and_workers_series(migrated, embedder) -> None:  # type: ignore[no-untyped-def]
    for client in client_for(migrated, embedder, "thread"):
        before = samples(client.get("/metrics").text)
        job_id = client.post("/api/v1/demos/test-sleep/jobs", json={"params": {"seconds": 0.2}}).json()["job_id"]
        with client.stream("GET", f"/api/v1/jobs/{job_id}/events") as stream:
            assert sse(stream.iter_lines())[-1][1]["status"] == "succeeded"
        after = samples(client.get("/metrics").text)
        done = ("torchtutor_jobs_total", (("demo", "test-sleep"), ("status", "succeeded")))
        assert before.get(done, 0) == 0 and after[done] == 1
        # The ThreadBackend cannot list its workers: the fallback counts distinct workers of recent jobs.
        assert sum(v for (name, _), v in after.items() if name == "torchtutor_workers") == 1
        assert not any(name == "torchtutor_queue_depth" for name, _ in after)  # nothing waiting


async def test_a_quiz_answer_counts_as_an_attempt(env: QuizEnv) -> None:
    env.force_items(CHOICE, CHOICE)
    with TestClient(create_app(env.runtime), client=("127.0.0.1", 50000)) as client:
        [question] = await env.command("/quiz")
        await env.click(choice_button(env, question, 1))
        got = samples(client.get("/metrics").text)
    assert got[("torchtutor_quiz_attempts_total", (("correct", "true"),))] == 1
    assert got.get(("torchtutor_quiz_attempts_total", (("correct", "false"),)), 0) == 0


def test_a_discord_api_error_is_counted() -> None:
    metrics = Metrics()
    delivery = Delivery(None, telemetry=metrics)  # type: ignore[arg-type]
    delivery.api_error(discord.HTTPException(SimpleNamespace(status=429, reason="Too Many Requests"), "slow down"))
    got = samples(metrics.render().decode())
    assert got[("torchtutor_platform_api_errors_total", (("kind", "rate_limited"), ("platform", "discord")))] == 1


def test_platform_error_kinds() -> None:
    assert [api_error_kind(s) for s in (429, 403, 503, None)] == ["rate_limited", "http_4xx", "http_5xx", "other"]
    assert api_error_kind(200) == "rejected"  # Slack's `ok: false`
