"""One engine per process and a session per unit of work."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

LOCK_TIMEOUT_S = 5.0  # TORCHTUTOR_DATABASE_LOCK_TIMEOUT_S
CONNECT_TIMEOUT_S = 10
POOL_OPTIONS = ("pool_size", "max_overflow", "pool_timeout", "pool_recycle")


def make_engine(url: str, *, lock_timeout_s: float = LOCK_TIMEOUT_S, **kwargs: Any) -> Engine:
    """An engine for the URL; SQLite gets WAL, a busy timeout and foreign keys, its folder created.

    `lock_timeout_s` bounds how long a statement waits for a lock another connection holds (SQLite's busy
    timeout, PostgreSQL's `lock_timeout`), so a locked database fails a request in seconds rather than hanging it.

    Server databases get a pool (`pool_size` + `max_overflow` connections at most per process, checked with a
    ping before use, recycled after `pool_recycle` seconds) and a connect timeout, so a database that went away
    fails a request or a health check in seconds rather than hanging it.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        for option in POOL_OPTIONS:  # SQLite's pool is per-thread; these would be refused
            kwargs.pop(option, None)
        return _sqlite_engine(url, parsed.database, lock_timeout_s, **kwargs)
    kwargs.setdefault("pool_pre_ping", True)
    if parsed.get_backend_name() == "postgresql":
        connect_args = dict(kwargs.get("connect_args", {}))
        if "connect_timeout" not in parsed.query:
            connect_args.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
        if "options" not in parsed.query:
            connect_args.setdefault("options", f"-c lock_timeout={max(1, int(lock_timeout_s * 1000))}")
        kwargs["connect_args"] = connect_args
    if "poolclass" in kwargs:
        for option in POOL_OPTIONS:
            kwargs.pop(option, None)
    else:
        kwargs.setdefault("pool_size", 5)
        kwargs.setdefault("max_overflow", 10)
        kwargs.setdefault("pool_recycle", 1800)
    return create_engine(url, **kwargs)


def _sqlite_engine(url: str, database: str | None, lock_timeout_s: float, **kwargs: Any) -> Engine:
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("connect_args", {"timeout": lock_timeout_s, "check_same_thread": False})
    engine = create_engine(url, **kwargs)
    busy_ms = max(1, int(lock_timeout_s * 1000))
    event.listen(engine, "connect", lambda connection, _record: _sqlite_pragmas(connection, busy_ms))
    return engine


def _sqlite_pragmas(dbapi_connection: Any, busy_ms: int) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Database:
    """The engine and its session factory; `transaction()` is the unit of work."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, **engine_options: Any) -> Database:
        """A database for a SQLAlchemy URL (`engine_options`: pool settings, ignored by SQLite)."""
        return cls(make_engine(url, **engine_options))

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any error."""
        with self._sessions.begin() as session:
            yield session

    def session(self) -> Session:
        """A plain session for read-only work; the caller closes it."""
        return self._sessions()

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()
