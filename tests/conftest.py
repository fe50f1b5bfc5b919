"""Shared fixtures: settings on a temporary database, the real embedder, a migrated runtime.

`TORCHTUTOR_TEST_DATABASE=postgres` puts the database of every test that asks for `settings`, `migrated` or
`runtime` on a fresh PostgreSQL database instead of SQLite (tests about SQLite itself are marked `sqlite_only`).
Those tests are marked `db`, so `make test` runs them a second time on PostgreSQL with `-m db`.
"""

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

TEST_DATABASES = ("sqlite", "postgres")
DB_FIXTURES = {"settings", "migrated", "runtime", "postgres_url"}
REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"  # payloads and documents the tests read; see its README.md
SEED = REPO / "knowledge" / "docs" / "what-is-pytorch.md"


def selected_database() -> str:
    """Which database the `settings` fixture gives tests: sqlite (default) or postgres."""
    return os.environ.get("TORCHTUTOR_TEST_DATABASE", "sqlite").strip().lower() or "sqlite"


def pytest_configure(config: pytest.Config) -> None:
    if selected_database() not in TEST_DATABASES:
        raise pytest.UsageError(f"TORCHTUTOR_TEST_DATABASE must be one of {', '.join(TEST_DATABASES)}")


def pytest_report_header(config: pytest.Config) -> str:
    return f"torchtutor test database: {selected_database()}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that touches a database through the fixtures `db`."""
    for item in items:
        if DB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)


@pytest.fixture(scope="session")
def embedding_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One embedding cache for the session: it is keyed by model and content hash (so sharing it cannot change an
    answer) and written by atomic rename; without it every runtime re-encodes the whole knowledge pack."""
    return tmp_path_factory.mktemp("embedding-cache")


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, embedding_cache_dir: Path) -> Iterator[None]:
    """No test reads the developer's environment or .env, and each gets its own database."""
    for name in list(os.environ):
        if name.startswith("TORCHTUTOR_") and not name.startswith("TORCHTUTOR_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("TORCHTUTOR_DATABASE_URL", f"sqlite:///{tmp_path}/torchtutor.db")
    monkeypatch.setenv("TORCHTUTOR_CACHE_DIR", str(embedding_cache_dir))
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
def settings(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of this test: a temporary SQLite database, or a fresh PostgreSQL one under the postgres switch."""
    if selected_database() == "postgres" and request.node.get_closest_marker("sqlite_only") is None:
        monkeypatch.setenv("TORCHTUTOR_DATABASE_URL", request.getfixturevalue("postgres_url"))
        get_settings.cache_clear()
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
