"""The database layer in production shape: the PostgreSQL switch of the suite, pool settings, portable text."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from bot.config import Settings
from bot.db.engine import Database
from bot.db.repo import clean_text
from bot.runtime import build_runtime
from tests.conftest import selected_database


def test_the_settings_fixture_follows_the_test_database_switch(settings: Settings) -> None:
    expected = "postgresql" if selected_database() == "postgres" else "sqlite"
    assert make_url(settings.database_url).get_backend_name() == expected


@pytest.mark.postgres
def test_pool_settings_reach_the_postgres_engine(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHTUTOR_DATABASE_URL", postgres_url)
    monkeypatch.setenv("TORCHTUTOR_DATABASE_POOL_SIZE", "3")
    monkeypatch.setenv("TORCHTUTOR_DATABASE_MAX_OVERFLOW", "2")
    runtime = build_runtime(Settings(), encoder=type("Tiny", (), {"name": "tiny", "dimension": 4})())
    try:
        pool = runtime.database.engine.pool
        assert pool.size() == 3 and pool._max_overflow == 2  # type: ignore[attr-defined]
        assert runtime.database.engine.dialect.name == "postgresql"
    finally:
        runtime.close()


def test_pool_settings_do_not_break_sqlite(tmp_path) -> None:  # type: ignore[no-untyped-def]
    database = Database.from_url(f"sqlite:///{tmp_path}/x.db", pool_size=3, max_overflow=2, pool_timeout=5,
                                 pool_recycle=60)
    with database.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1
    database.dispose()


def test_text_is_stored_the_same_on_every_backend() -> None:
    assert clean_text("a\x00b", 10) == "a\ufffdb"
    assert clean_text("é" * 300, 128) == "é" * 128
