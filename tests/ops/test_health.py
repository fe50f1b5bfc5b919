"""/healthz checks the model, the database and the queue live, and names what fails."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from bot.config import Settings
from bot.db.migrate import downgrade, upgrade
from bot.runtime import build_runtime
from bot.web.app import create_app
from tests.helpers import free_port
from tests.services import require_postgres, require_redis

LOOPBACK = ("127.0.0.1", 50000)


def _settings(base: Settings, **changes: object) -> Settings:
    return base.model_copy(update=changes)


def _client(settings: Settings, embedder) -> TestClient:  # type: ignore[no-untyped-def]
    runtime = build_runtime(settings, encoder=embedder)
    runtime.start()
    return TestClient(create_app(runtime), client=LOOPBACK)


def test_a_schema_dropped_while_serving_turns_database_red_and_back(migrated, embedder) -> None:  # type: ignore[no-untyped-def]
    with _client(migrated, embedder) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        downgrade(migrated.database_url, "base")
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json() == {"status": "unhealthy", "checks": {"model": True, "database": False},
                                   "failing": ["database"]}
        upgrade(migrated.database_url)
        assert client.get("/healthz").status_code == 200  # checked live, not cached


@pytest.mark.postgres
def test_a_postgres_database_dropped_while_serving_is_named(postgres_url: str, settings, embedder) -> None:  # type: ignore[no-untyped-def]
    upgrade(postgres_url)
    name = postgres_url.rsplit("/", 1)[1]
    admin = create_engine(require_postgres(), isolation_level="AUTOCOMMIT")
    try:
        with _client(_settings(settings, database_url=postgres_url), embedder) as client:
            assert client.get("/healthz").status_code == 200
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            response = client.get("/healthz")
            assert response.status_code == 503 and response.json()["failing"] == ["database"]
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            upgrade(postgres_url)
            assert client.get("/healthz").status_code == 200
    finally:
        admin.dispose()


def test_a_newer_schema_keeps_old_processes_serving(migrated, embedder) -> None:  # type: ignore[no-untyped-def]
    """During a rolling upgrade the new release migrates first; the old one must stay in its load balancer."""
    with _client(migrated, embedder) as client:
        engine = create_engine(migrated.database_url)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'from_a_newer_release'"))
        engine.dispose()
        assert client.get("/healthz").status_code == 200


def test_the_celery_backend_needs_its_queue(migrated, embedder) -> None:  # type: ignore[no-untyped-def]
    dead = _settings(migrated, worker_backend="celery", queue_url=f"redis://127.0.0.1:{free_port()}/0")
    with _client(dead, embedder) as client:
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["failing"] == ["queue"] and response.json()["checks"]["database"] is True


@pytest.mark.redis
def test_a_live_redis_queue_is_healthy(migrated, embedder) -> None:  # type: ignore[no-untyped-def]
    live = _settings(migrated, worker_backend="celery", queue_url=require_redis())
    with _client(live, embedder) as client:
        assert client.get("/healthz").json() == {"status": "ok"}


def test_a_hung_check_times_out_and_others_still_answer(runtime) -> None:  # type: ignore[no-untyped-def]
    import threading

    release = threading.Event()
    runtime.add_health_check("slow", lambda: release.wait(10), timeout=0.2)
    with TestClient(create_app(runtime), client=LOOPBACK) as client:
        try:
            response = client.get("/healthz")
            assert response.status_code == 503 and response.json()["failing"] == ["slow"]
        finally:
            release.set()  # let the probe's thread end before the client's event loop waits for it


def test_healthcheck_command_checks_services_for_workers(migrated) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import cli

    ok = cli("healthcheck", "--services")
    assert ok.returncode == 0, ok.stderr
    bad = cli("healthcheck", "--services", env={"TORCHTUTOR_WORKER_BACKEND": "celery",
                                                "TORCHTUTOR_QUEUE_URL": f"redis://127.0.0.1:{free_port()}/0"})
    assert bad.returncode == 1 and "queue" in bad.stderr and bad.stderr.strip().count("\n") == 0
    down = cli("healthcheck", "--url", f"http://127.0.0.1:{free_port()}/healthz")
    assert down.returncode == 1 and "no answer" in down.stderr
