"""Shared fixtures: settings on a temporary database, the real embedder, a migrated runtime."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from bot.config import Settings, get_settings  # noqa: E402
from tests.services import require_postgres  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SEED = REPO / "knowledge" / "docs" / "what-is-pytorch.md"


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's environment or .env, and each gets its own database and cache."""
    for name in list(os.environ):
        if name.startswith("TORCHTUTOR_") and not name.startswith("TORCHTUTOR_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TORCHTUTOR_DATABASE_URL", f"sqlite:///{tmp_path}/torchtutor.db")
    monkeypatch.setenv("TORCHTUTOR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCHTUTOR_ENVIRONMENT", "test")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def embedder():  # type: ignore[no-untyped-def]
    """The real all-MiniLM-L6-v2 embedder, loaded once per test session."""
    from knowledge.embedder import get_embedder

    encoder = get_embedder()
    encoder.load()
    return encoder


@pytest.fixture
def settings() -> Settings:
    """Settings of this test (temporary SQLite database and cache)."""
    return get_settings()


@pytest.fixture
def migrated(settings: Settings) -> Settings:
    """Settings whose database is migrated to head."""
    from bot.db.migrate import upgrade

    upgrade(settings.database_url)
    return settings


@pytest.fixture
def runtime(migrated: Settings, embedder):  # type: ignore[no-untyped-def]
    """A started runtime over the bundled knowledge, on a migrated temporary database."""
    from bot.runtime import build_runtime

    rt = build_runtime(migrated, encoder=embedder)
    rt.start()
    yield rt
    rt.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    with fresh_postgres_database() as url:
        yield url


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped on exit (for fixtures of any scope)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = require_postgres()
    name = f"tt_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def cli(*args: str, input: str | None = None, env: dict[str, str] | None = None, timeout: float = 180):  # type: ignore[no-untyped-def]
    """Run the torchtutor CLI in a subprocess, as a user would."""
    import subprocess

    full_env = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "bot.cli.main", *args], input=input, capture_output=True,
                          text=True, env=full_env, timeout=timeout)
