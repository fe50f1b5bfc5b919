"""Stopping: SIGTERM drains and exits 0 within the bound; shutdown hooks run once, newest first, bounded."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.runtime import build_runtime
from bot.web.app import create_app
from tests.helpers import serving


class TinyEncoder:
    """Enough of an encoder to build a runtime that is never started."""

    name, dimension = "tiny", 4


@pytest.fixture
def idle_runtime(migrated):  # type: ignore[no-untyped-def]
    runtime = build_runtime(migrated.model_copy(update={"shutdown_timeout": 1.0}), encoder=TinyEncoder())
    yield runtime
    runtime.close()


async def test_hooks_run_once_newest_first_within_the_deadline(idle_runtime, caplog) -> None:  # type: ignore[no-untyped-def]
    ran: list[str] = []

    async def pool(deadline: float) -> None:
        assert idle_runtime.draining and deadline > time.monotonic()
        ran.append("pool")

    def adapter(deadline: float) -> None:  # sync hooks run in a thread
        ran.append("adapter")

    def broken(deadline: float) -> None:
        raise RuntimeError("boom")

    async def stuck(deadline: float) -> None:
        await asyncio.sleep(60)

    for name, hook in (("adapter", adapter), ("broken", broken), ("stuck", stuck), ("pool", pool)):
        idle_runtime.add_shutdown_hook(name, hook)
    started = time.monotonic()
    await asyncio.gather(idle_runtime.shutdown("test"), idle_runtime.shutdown("again"))
    await idle_runtime.shutdown("and again")
    assert ran == ["pool", "adapter"]
    assert time.monotonic() - started < 5
    assert "shutdown hook stuck did not finish" in caplog.text and "shutdown hook broken failed" in caplog.text


def test_the_app_stops_taking_work_while_draining_and_runs_hooks_at_exit(idle_runtime) -> None:  # type: ignore[no-untyped-def]
    ran: list[str] = []
    idle_runtime.add_shutdown_hook("record", lambda deadline: ran.append("record"))
    idle_runtime.ready = True  # nothing to load for this test
    with TestClient(create_app(idle_runtime), client=("127.0.0.1", 50000)) as client:
        idle_runtime.draining = True
        assert client.get("/healthz").json()["status"] == "stopping"
        refused = client.post("/api/v1/ask", json={"question": "what is a tensor?"})
        assert refused.status_code == 503 and refused.headers["retry-after"]
    assert ran == ["record"]


def test_a_served_process_logs_json_with_request_ids_and_stops_cleanly_on_sigterm(migrated) -> None:  # type: ignore[no-untyped-def]
    """One server for both (starting one costs seconds): its log is all JSON lines, each request's line carries
    its id, the response echoes it; SIGTERM makes it stop listening, drain, and exit 0 well within the bound."""
    env = {"TORCHTUTOR_DATABASE_URL": migrated.database_url, "TORCHTUTOR_LOG_FORMAT": "json"}
    with serving(env=env) as server:
        given = httpx.post(f"{server.url}/api/v1/ask", json={"question": "what is autograd?"},
                           headers={"X-Request-ID": "req-e2e-42"}, timeout=30)
        assert given.status_code == 200 and given.headers["x-request-id"] == "req-e2e-42"
        made = httpx.get(f"{server.url}/api/v1/nothing-here", headers={"X-Request-ID": "bad id; drop table"})
        assert made.status_code == 404 and re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=15) == 0
        elapsed = time.monotonic() - started
        lines = [json.loads(line) for line in server.log().splitlines() if line.strip()]  # every line is JSON
    access = [line for line in lines if line["logger"] == "bot.web.access"]
    ask = next(line for line in access if line.get("request_id") == "req-e2e-42")
    assert ask["path"] == "/api/v1/ask" and ask["status"] == 200 and ask["level"] == "INFO"
    assert {"ts", "level", "logger", "message"} <= set(ask)
    assert any(line.get("request_id") == made.headers["x-request-id"] and line["status"] == 404 for line in access)
    messages = [line["message"] for line in lines]
    assert elapsed < 10, f"took {elapsed:.1f}s to stop"
    assert any(m.startswith("shutting down (SIGTERM)") for m in messages)
    assert messages.index("shutdown hooks done") < messages.index("stopped")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/healthz", timeout=2)
