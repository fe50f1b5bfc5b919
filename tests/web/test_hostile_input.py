"""Hostile input over HTTP: oversized and malformed bodies, absurd dates, foreign Host names, forged forwarding.

Each is answered with a 4xx and one line, never a 5xx, and nothing is logged at ERROR.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.config import Settings
from bot.web.app import create_app
from tests.conftest import cli
from tests.helpers import served
from tests.web.conftest import csrf

LOOPBACK = ("127.0.0.1", 50000)
JSON = {"content-type": "application/json"}
MALFORMED_JSON = [  # each is malformed for every JSON route
    b'{"question": "\\ud800", "params": {"x": "\\ud800"}, "text": "\\ud800"}',
    b'{"question": "ok \\udc00 ok", "params": "\\udc00", "text": "\\udc00"}',
    b'{"question": NaN, "params": NaN, "text": NaN}',
    b'{"question": Infinity, "params": {"x": [1, -Infinity]}, "text": Infinity}',
    b'{"question": "\xff\xfe", "params": "\xff", "text": "\xff"}',
    b"[" * 20_000 + b"]" * 20_000,
    b'{"question": 7, "params": 7, "text": 7}',
    b'["question"]',
    b'{"question": ',
]


@pytest.fixture
def no_errors_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.INFO)
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def test_malformed_json_gets_a_short_422_never_a_500(app, client_for, no_errors_logged) -> None:  # type: ignore[no-untyped-def]
    api = TestClient(app, client=LOOPBACK)
    visitor = client_for()  # the public playground too
    playground = {**JSON, "X-CSRF-Token": csrf(visitor, "/playground")}
    answers = {}
    for body in MALFORMED_JSON:
        for path in ("/api/v1/ask", "/api/v1/demos/backward-pass/jobs"):
            answers[path, body[:40]] = api.post(path, content=body, headers=JSON)
        answers["/playground/send", body[:40]] = visitor.post("/playground/send", content=body, headers=playground)
    wrong = {key: (r.status_code, r.text[:200]) for key, r in answers.items()
             if r.status_code != 422 or len(r.content) > 1000}
    assert not wrong


def test_a_validation_error_quotes_only_an_excerpt_of_the_input(app, no_errors_logged) -> None:  # type: ignore[no-untyped-def]
    huge = "x" * 60_000
    response = TestClient(app, client=LOOPBACK).post("/api/v1/demos/backward-pass/jobs", json={"params": huge})
    assert response.status_code == 422
    assert len(response.content) < 1000 and "xxxxxxxx" in response.text


async def test_a_json_body_over_64_kib_is_refused_while_it_streams(app, no_errors_logged) -> None:  # type: ignore[no-untyped-def]
    sent: list[int] = []

    async def fifty_megabytes():  # type: ignore[no-untyped-def]
        for _ in range(800):
            sent.append(1)
            yield b"x" * 65536

    transport = httpx.ASGITransport(app=app, client=LOOPBACK)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post("/api/v1/ask", content=fifty_megabytes(), headers=JSON)
        assert response.status_code == 413 and "64 KiB" in response.json()["detail"]
        assert len(sent) <= 3, f"read {len(sent)} chunks of 64 KiB before refusing"
        declared = await client.post("/api/v1/ask", content=b"{}", headers={**JSON, "content-length": "70000"})
        assert declared.status_code == 413
        just_under = '{"question": "' + "a" * (64 * 1024 - 20) + '"}'
        assert (await client.post("/api/v1/ask", content=just_under, headers=JSON)).status_code == 200


def test_absurd_dates_get_a_4xx(client_for, no_errors_logged) -> None:  # type: ignore[no-untyped-def]
    viewer = client_for("vic")
    wrong = {}
    for path in ("/api/v1/stats/overview", "/api/v1/stats/questions-per-day", "/dashboard"):
        for query in ("start=9999-01-01&end=9999-01-02", "start=9999-12-31&end=9999-12-31",
                      "start=0001-01-01&end=0001-01-01", "start=2026-01-01&end=x", "days=NaN"):
            response = viewer.get(f"{path}?{query}", follow_redirects=False)
            if not 400 <= response.status_code < 500:
                wrong[path, query] = response.status_code
    assert not wrong


# ----- trust boundaries

def _app_with(runtime, **settings):  # type: ignore[no-untyped-def]
    changed = Settings(environment=settings.pop("environment", "test"), database_url=runtime.settings.database_url,
                       **settings)
    return create_app(replace(runtime, settings=changed))


def test_forwarded_headers_count_only_from_trusted_proxies(runtime) -> None:  # type: ignore[no-untyped-def]
    question = {"question": "what is pytorch"}
    app = _app_with(runtime, trusted_proxies="10.0.0.0/24")
    from_proxy = TestClient(app, client=("10.0.0.7", 40000))
    assert from_proxy.post("/api/v1/ask", json=question, headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200
    spoofed = {"X-Forwarded-For": "127.0.0.1, 203.0.113.9, 10.0.0.8"}  # the nearest untrusted hop is the client
    assert from_proxy.post("/api/v1/ask", json=question, headers=spoofed).status_code == 403
    assert from_proxy.post("/api/v1/ask", json=question,
                           headers={"Forwarded": 'for="[::1]:5000";proto=https'}).status_code == 200
    stranger = TestClient(app, client=("203.0.113.9", 40000))
    assert stranger.post("/api/v1/ask", json=question, headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 403
    loopback = TestClient(_app_with(runtime), client=LOOPBACK)  # default: no proxy is trusted
    assert loopback.post("/api/v1/ask", json=question, headers={"X-Forwarded-For": "8.8.8.8"}).status_code == 200


def test_other_host_names_get_400(runtime) -> None:  # type: ignore[no-untyped-def]
    app = _app_with(runtime, allowed_hosts="bot.example.com, *.tt.example.org")
    remote = TestClient(app, client=("203.0.113.9", 40000))
    assert remote.get("/healthz", headers={"Host": "bot.example.com"}).status_code == 200
    assert remote.get("/healthz", headers={"Host": "BOT.example.com.:443"}).status_code == 200
    assert remote.get("/healthz", headers={"Host": "eu.tt.example.org"}).status_code == 200
    for host in ("evil.example", "bot.example.com.evil.example", "tt.example.org", "127.0.0.1", ""):
        response = remote.get("/healthz", headers={"Host": host})
        assert response.status_code == 400, host
        assert "TORCHTUTOR_ALLOWED_HOSTS" in response.json()["detail"]
    local = TestClient(app, client=LOOPBACK)  # health checks inside the container
    assert local.get("/healthz", headers={"Host": "127.0.0.1:8000"}).status_code == 200
    rebound = TestClient(_app_with(runtime, environment="development"), client=LOOPBACK)
    assert rebound.get("/healthz", headers={"Host": "attacker.example"}).status_code == 400
    assert rebound.get("/healthz", headers={"Host": "localhost:8000"}).status_code == 200


def test_production_schema_and_docs_need_the_api_token(runtime) -> None:  # type: ignore[no-untyped-def]
    app = _app_with(runtime, environment="production", secret_key="a-long-and-random-production-secret",
                    allowed_hosts="bot.example.com", api_token="tok-123456")
    client = TestClient(app, base_url="https://bot.example.com", client=("203.0.113.9", 40000))
    for path in ("/openapi.json", "/api/docs"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers={"Authorization": "Bearer nope"}).status_code == 401, path
        assert client.get(path, headers={"Authorization": "Bearer tok-123456"}).status_code == 200, path
    schema = client.get("/openapi.json", headers={"Authorization": "Bearer tok-123456"}).json()
    assert "/api/v1/ask" in schema["paths"]
    development = TestClient(_app_with(runtime), client=LOOPBACK)
    assert development.get("/openapi.json").status_code == 200


def test_production_refuses_to_serve_without_allowed_hosts() -> None:
    env = {"TORCHTUTOR_ENVIRONMENT": "production", "TORCHTUTOR_SECRET_KEY": "a-long-and-random-production-secret"}
    result = cli("serve", "--port", "1", env=env, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "TORCHTUTOR_ALLOWED_HOSTS" in result.stderr and result.stderr.strip().count("\n") == 0


def test_a_served_app_ignores_forwarded_headers_and_foreign_hosts(migrated) -> None:  # type: ignore[no-untyped-def]
    """Through uvicorn, as deployed: a loopback peer's X-Forwarded-For is not believed unless it is a trusted
    proxy, and a DNS-rebinding Host is refused."""
    with served(env={"TORCHTUTOR_DATABASE_URL": migrated.database_url}) as url:
        question = {"question": "what is pytorch"}
        forged = httpx.post(f"{url}/api/v1/ask", json=question, headers={"X-Forwarded-For": "8.8.8.8"}, timeout=30)
        assert forged.status_code == 200, "the peer is loopback; the header is not believed"
        rebound = httpx.post(f"{url}/api/v1/ask", json=question, headers={"Host": "attacker.example"}, timeout=30)
        assert rebound.status_code == 400
        docs = httpx.get(f"{url}/openapi.json", timeout=30)
        assert docs.status_code == 200, "development keeps the schema open"
