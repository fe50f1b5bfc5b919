"""Every migration goes up and down on SQLite and PostgreSQL, and the models agree with them."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from bot.db.all_models import metadata
from bot.db.engine import make_engine
from bot.db.migrate import alembic_config, downgrade, head_revision, is_up_to_date, upgrade


def _revisions() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def _roundtrip(url: str) -> None:
    """Up one step at a time, down one step at a time, then up again; the schema matches the models."""
    for revision in _revisions():
        upgrade(url, revision)
    engine = make_engine(url)
    try:
        assert is_up_to_date(engine)
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
        for _ in _revisions():
            downgrade(url, "-1")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(url)
        assert set(metadata.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_there_is_exactly_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
    assert head_revision() == script.get_current_head()


@pytest.mark.sqlite_only
def test_sqlite_up_and_down(settings) -> None:  # type: ignore[no-untyped-def]
    _roundtrip(settings.database_url)


@pytest.mark.postgres
def test_postgres_up_and_down(postgres_url: str) -> None:
    _roundtrip(postgres_url)


@pytest.mark.sqlite_only
def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(settings) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(settings.database_url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_migrate_command_reaches_head(settings) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import cli

    result = cli("migrate", env={"TORCHTUTOR_DATABASE_URL": settings.database_url})
    assert result.returncode == 0, result.stderr
    engine = make_engine(settings.database_url)
    assert is_up_to_date(engine)
    engine.dispose()


@pytest.mark.sqlite_only
def test_locked_database_gives_one_line_and_status_1(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    from tests.conftest import cli

    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = cli("migrate", env={"TORCHTUTOR_DATABASE_URL": f"sqlite:///{path}"})
    finally:
        holder.rollback()
        holder.close()
    assert result.returncode == 1
    assert "locked" in result.stderr and result.stderr.strip().count("\n") == 0
