"""Demo jobs over HTTP: POST a job, GET it, follow its Server-Sent Events, fetch its plot, cancel it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.db.engine import Database
from bot.runtime import build_runtime
from bot.web.app import create_app
from tests.jobs_support import HoldBackend, ThreadBackend, sample_demos_registered

PNG = b"\x89PNG\r\n\x1a\n"


def client_for(settings, embedder, backend_kind: str) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    database = Database.from_url(settings.database_url)
    backend = ThreadBackend(database) if backend_kind == "thread" else HoldBackend()
    runtime = build_runtime(settings, encoder=embedder, database=database, backend=backend)
    runtime.demos.poll_s = 0.2
    with sample_demos_registered(), TestClient(create_app(runtime), client=("127.0.0.1", 50000)) as client:
        yield client
    runtime.close()


@pytest.fixture
def client(migrated, embedder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    yield from client_for(migrated, embedder, "thread")


@pytest.fixture
def holding_client(migrated, embedder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    yield from client_for(migrated, embedder, "hold")


def sse(lines: Iterator[str]) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) pairs of a Server-Sent Events stream."""
    events, name = [], None
    for line in lines:
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: ") and name is not None:
            events.append((name, json.loads(line[len("data: "):])))
    return events


def test_a_job_is_started_followed_and_read_back(client: TestClient) -> None:
    response = client.post("/api/v1/demos/train-tiny/jobs", json={"params": {"steps": 30}})
    assert response.status_code == 202 and set(response.json()) == {"job_id"}
    job_id = response.json()["job_id"]
    with client.stream("GET", f"/api/v1/jobs/{job_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = sse(stream.iter_lines())
    kinds = [name for name, _ in events]
    assert kinds[-1] == "result" and kinds.count("result") == 1 and set(kinds[:-1]) <= {"progress"}
    progress = [data["progress"] for name, data in events if name == "progress"]
    assert progress == sorted(progress)
    result = events[-1][1]
    assert set(result) == {"event", "job_id", "status", "device", "text", "code", "images", "metrics", "error"}
    assert result["status"] == "succeeded" and result["job_id"] == job_id and len(result["images"]) == 1
    assert client.get(result["images"][0]).content.startswith(PNG)
    job = client.get(f"/api/v1/jobs/{job_id}").json()
    assert job["status"] == "succeeded" and job["progress"] == 1.0 and job["demo"] == "train-tiny"
    assert job["params"] == {"steps": 30, "lr": 0.05, "seed": 0, "device": "cpu"}
    assert job["result"]["images"] == result["images"]
    assert "def train_mlp" in job["result"]["code"]
    with client.stream("GET", f"/api/v1/jobs/{job_id}/events") as late:  # joins after the end
        assert [name for name, _ in sse(late.iter_lines())] == ["result"]


@pytest.mark.parametrize(("path", "body", "status", "detail"), [
    ("/api/v1/demos/warp-drive/jobs", {}, 404, "I don't know a demo called `warp-drive`."),
    ("/api/v1/demos/backward-pass/jobs", {"params": {"x": [1, 101]}}, 422,
     "backward-pass: parameter 'x': item 2: must be between -100 and 100, got 101"),
    ("/api/v1/demos/backward-pass/jobs", {"params": {"size": 1}}, 422,
     "backward-pass: parameter 'size': unknown parameter; backward-pass takes: x"),
    ("/api/v1/demos/train-tiny/jobs", {"params": {"steps": True}}, 422,
     "train-tiny: parameter 'steps': expected a whole number, got True"),
])
def test_bad_jobs_are_refused_with_a_reason(holding_client: TestClient, path: str, body: dict[str, Any],
                                            status: int, detail: str) -> None:
    response = holding_client.post(path, json=body)
    assert response.status_code == status and response.json()["detail"].startswith(detail)


def test_full_queue_cancel_and_unknown_jobs(holding_client: TestClient) -> None:
    ids = [holding_client.post("/api/v1/demos/backward-pass/jobs", json={}).json()["job_id"] for _ in range(2)]
    full = holding_client.post("/api/v1/demos/backward-pass/jobs", json={})
    assert full.status_code == 429 and "already have 2" in full.json()["detail"]
    assert holding_client.get(f"/api/v1/jobs/{ids[0]}").json()["status"] == "queued"
    assert holding_client.post(f"/api/v1/jobs/{ids[0]}/cancel").status_code == 200
    assert holding_client.get(f"/api/v1/jobs/{ids[0]}").json()["status"] == "cancelled"
    assert holding_client.post(f"/api/v1/jobs/{ids[0]}/cancel").status_code == 409
    assert holding_client.post("/api/v1/demos/backward-pass/jobs", json={}).status_code == 202  # room again
    assert holding_client.get("/api/v1/jobs/nope").status_code == 404
    assert holding_client.get("/api/v1/jobs/nope/events").status_code == 404
    assert holding_client.post("/api/v1/jobs/nope/cancel").status_code == 404
    assert holding_client.get(f"/api/v1/jobs/{ids[1]}/images/0").status_code == 404


def test_remote_clients_need_the_token_for_jobs(migrated, embedder) -> None:  # type: ignore[no-untyped-def]
    runtime = build_runtime(migrated, encoder=embedder, backend=HoldBackend())
    with TestClient(create_app(runtime)) as client:
        assert client.post("/api/v1/demos/backward-pass/jobs", json={}).status_code == 403
        assert client.get("/api/v1/jobs/x").status_code == 403
    runtime.close()


def test_the_app_runs_demos_on_its_embedded_worker_pool(migrated, embedder) -> None:  # type: ignore[no-untyped-def]
    runtime = build_runtime(migrated, encoder=embedder)  # the configured backend: the local pool
    backend = runtime.demos.backend
    with TestClient(create_app(runtime), client=("127.0.0.1", 50000)) as client:
        response = client.post("/api/v1/demos/backward-pass/jobs", json={"params": {"x": "1,2"}})
        assert response.status_code == 202
        job_id = response.json()["job_id"]
        with client.stream("GET", f"/api/v1/jobs/{job_id}/events") as stream:
            events = sse(stream.iter_lines())
        assert events[-1][0] == "result" and events[-1][1]["status"] == "succeeded"
        assert events[-1][1]["metrics"]["grad"] == [5.0, 14.0]
        assert client.get(f"/api/v1/jobs/{job_id}").json()["worker"].startswith("local-")
        pids = [pid for _, pid, _ in backend.processes]  # type: ignore[attr-defined]
    assert not runtime.workers_started  # shutting the app down stopped the pool
    assert all(not psutil_alive(pid) for pid in pids)
    runtime.close()


def psutil_alive(pid: int | None) -> bool:
    import os

    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie not yet reaped is gone for our purposes
        return stat.read().split()[2] != "Z"
