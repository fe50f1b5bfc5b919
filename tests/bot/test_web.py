"""The web app: readiness, and the ask API's authorisation and answers."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.runtime import build_runtime
from bot.web.app import create_app
from tests.helpers import served

TENSOR_ENTRY = "how-does-pytorch-s-tensor-object-differ-from-a-numpy-ndarray"


def test_healthz_is_503_until_ready_then_200(migrated, embedder) -> None:  # type: ignore[no-untyped-def]
    runtime = build_runtime(migrated, encoder=embedder)
    app = create_app(runtime)
    runtime_start = runtime.start
    runtime.start = lambda: None  # type: ignore[method-assign]  # hold start-up back
    with TestClient(app) as client:
        response = client.get("/healthz")
        assert response.status_code == 503 and response.json()["checks"]["model"] is False
        runtime_start()
        assert client.get("/healthz").json() == {"status": "ok"}


def test_healthz_is_503_on_an_unmigrated_database(settings, embedder) -> None:  # type: ignore[no-untyped-def]
    runtime = build_runtime(settings, encoder=embedder, use_database_entries=False)
    runtime.start()
    with TestClient(create_app(runtime)) as client:
        response = client.get("/healthz")
        assert response.status_code == 503 and response.json()["checks"]["database"] is False


def test_without_a_token_only_loopback_clients_may_ask(runtime) -> None:  # type: ignore[no-untyped-def]
    with TestClient(create_app(runtime)) as client:  # TestClient's address is "testclient", not loopback
        response = client.post("/api/v1/ask", json={"question": "what is pytorch"})
        assert response.status_code == 403


def test_served_api_needs_the_bearer_token(migrated) -> None:  # type: ignore[no-untyped-def]
    env = {"TORCHTUTOR_API_TOKEN": "s3cret-token", "TORCHTUTOR_DATABASE_URL": migrated.database_url}
    with served(env=env) as url:
        question = {"question": "How is a PyTorch tensor different from a numpy array?"}
        assert httpx.post(f"{url}/api/v1/ask", json=question).status_code == 401
        wrong = httpx.post(f"{url}/api/v1/ask", json=question, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        auth = {"Authorization": "Bearer s3cret-token"}
        response = httpx.post(f"{url}/api/v1/ask", json=question, headers=auth, timeout=30)
        assert response.status_code == 200
        assert response.json()["entry_id"] == TENSOR_ENTRY
        declined = httpx.post(f"{url}/api/v1/ask", json={"question": "How do I center a div in CSS?"},
                              headers=auth, timeout=30).json()
        assert declined["status"] == "no_match"
        assert httpx.post(f"{url}/api/v1/ask", json={"q": 1}, headers=auth).status_code == 422


@pytest.mark.parametrize("body", [{"question": ""}, {"question": "\x00\x01"}, {"question": "é" * 10_000}])
def test_odd_questions_get_an_answer_object(runtime, body) -> None:  # type: ignore[no-untyped-def]
    app = create_app(runtime)
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        response = client.post("/api/v1/ask", json=body)
        assert response.status_code == 200
        assert response.json()["status"] in ("answered", "no_match")
