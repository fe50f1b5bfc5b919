"""/metrics: Prometheus text, torchtutor_ series that count, scrape-time sources, and who may scrape."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from bot.metrics import Metrics
from bot.web.app import create_app

LOOPBACK = ("127.0.0.1", 50000)
SERIES = {"torchtutor_questions", "torchtutor_answer_latency_seconds", "torchtutor_quiz_attempts",
          "torchtutor_jobs", "torchtutor_queue_depth", "torchtutor_workers", "torchtutor_platform_api_errors"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of a Prometheus text exposition."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture
def client(runtime) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(create_app(runtime), client=LOOPBACK) as test_client:
        yield test_client


def test_asking_counts_the_question_and_observes_its_latency(client: TestClient) -> None:
    before = samples(client.get("/metrics").text)
    assert client.post("/api/v1/ask", json={"question": "How is a PyTorch tensor different from a numpy array?"}
                       ).json()["status"] == "answered"
    assert client.post("/api/v1/ask", json={"question": "How do I center a div in CSS?"}).json()["status"] == "no_match"
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    after = samples(response.text)
    answered = ("torchtutor_questions_total", (("platform", "api"), ("status", "answered")))
    declined = ("torchtutor_questions_total", (("platform", "api"), ("status", "no_match")))
    assert before.get(answered, 0) == 0 and after[answered] == 1 and after[declined] == 1
    assert after[("torchtutor_answer_latency_seconds_count", ())] == 2
    assert 0 < after[("torchtutor_answer_latency_seconds_sum", ())] < 60
    assert after[("torchtutor_answer_latency_seconds_bucket", (("le", "+Inf"),))] == 2
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert SERIES <= names, SERIES - names


def test_the_seams_feed_their_series(runtime, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    metrics: Metrics = runtime.metrics
    metrics.quiz_attempted(correct=True)
    metrics.quiz_attempted(correct=True)
    metrics.quiz_attempted(correct=False)
    metrics.platform_api_error(platform="discord", kind="rate_limited")
    metrics.set_jobs_source(lambda: {("train-tiny", "succeeded"): 3, ("gpu-speedup", "queued"): 1})
    metrics.set_queue_depth_source(lambda: {"gpu": 2, "cpu": 0})
    metrics.set_workers_source(lambda: {"cpu": 4})
    got = samples(client.get("/metrics").text)
    assert got[("torchtutor_quiz_attempts_total", (("correct", "true"),))] == 2
    assert got[("torchtutor_quiz_attempts_total", (("correct", "false"),))] == 1
    assert got[("torchtutor_platform_api_errors_total", (("kind", "rate_limited"), ("platform", "discord")))] == 1
    assert got[("torchtutor_jobs_total", (("demo", "train-tiny"), ("status", "succeeded")))] == 3
    assert got[("torchtutor_queue_depth", (("queue", "gpu"),))] == 2
    assert got[("torchtutor_workers", (("queue", "cpu"),))] == 4


def test_a_broken_source_costs_its_series_not_the_scrape(runtime, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    def broken() -> dict[str, float]:
        raise ConnectionError("redis went away")

    runtime.metrics.set_queue_depth_source(broken)
    runtime.metrics.set_workers_source(lambda: {"gpu": 1})
    response = client.get("/metrics")
    assert response.status_code == 200
    got = samples(response.text)
    assert not any(name == "torchtutor_queue_depth" for name, _ in got)
    assert got[("torchtutor_workers", (("queue", "gpu"),))] == 1
    got = samples(client.get("/metrics").text)
    assert got[("torchtutor_metrics_source_errors_total", (("source", "queue_depth"),))] == 2


def test_each_runtime_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.question_answered(platform="slack", status="answered", seconds=0.1)
    key = ("torchtutor_questions_total", (("platform", "slack"), ("status", "answered")))
    assert samples(first.render().decode())[key] == 1
    assert key not in samples(second.render().decode())
    assert not [name for name in REGISTRY._names_to_collectors if name.startswith("torchtutor_")]


def test_remote_scrapers_need_the_metrics_token(runtime) -> None:  # type: ignore[no-untyped-def]
    app = create_app(runtime)
    with TestClient(app) as remote:  # TestClient's address is "testclient", not loopback
        assert remote.get("/metrics").status_code == 403
        runtime.settings = runtime.settings.model_copy(update={"metrics_token": SecretStr("scrape-me")})
        assert remote.get("/metrics").status_code == 401
        assert remote.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert remote.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).status_code == 200
        runtime.settings = runtime.settings.model_copy(update={"metrics_token": None, "metrics_public": True})
        assert remote.get("/metrics").status_code == 200
