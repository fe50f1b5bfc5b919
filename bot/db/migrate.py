"""Alembic, driven from code: `torchtutor migrate` and the readiness check use these."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine

SchemaState = Literal["current", "empty", "behind", "ahead"]

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config for the migrations folder and this database URL."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision`."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Revert migrations down to `revision`."""
    command.downgrade(alembic_config(url), revision)


@functools.cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def head_revision() -> str | None:
    """The newest migration in the folder."""
    return _scripts().get_current_head()


def schema_state(connection: Connection) -> SchemaState:
    """Where the database stands against this code's migrations.

    `ahead` is a revision this code does not know: a newer release has migrated. Migrations are written to keep
    the previous release working (add, then remove a release later), so old processes may keep serving during a
    rolling upgrade.
    """
    current = MigrationContext.configure(connection).get_current_revision()
    if current is None:
        return "empty"
    if current == head_revision():
        return "current"
    try:
        known = _scripts().get_revision(current) is not None
    except CommandError:
        known = False
    return "behind" if known else "ahead"


def is_up_to_date(engine: Engine) -> bool:
    """Whether the database is at the newest migration."""
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current is not None and current == head_revision()
