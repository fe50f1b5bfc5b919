"""Holding a real database lock from a second connection, as another process (or an operator) would."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import make_url


@contextmanager
def database_locked(url: str, tables: tuple[str, ...] = ("questions",)) -> Iterator[None]:
    """SQLite: `BEGIN EXCLUSIVE` on the file (no other connection may write); PostgreSQL: `LOCK TABLE ... IN
    ACCESS EXCLUSIVE MODE` on `tables` (no other connection may even read them). Released on exit."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connection = sqlite3.connect(parsed.database or "", isolation_level=None, check_same_thread=False)
        connection.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    import psycopg

    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as connection:
        connection.execute(f"LOCK TABLE {', '.join(tables)} IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            connection.rollback()


class HeldLock:
    """A lock held in a background thread: `set()` releases it now; `released` is set once it is released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.released = threading.Event()

    def set(self) -> None:
        self.release.set()


@contextmanager
def released_after(seconds: float, url: str, tables: tuple[str, ...] = ("questions",)) -> Iterator[HeldLock]:
    """Hold the lock in a background thread for `seconds` (or until `set()`); released on exit at the latest."""
    lock = HeldLock()
    held = threading.Event()

    def hold() -> None:
        try:
            with database_locked(url, tables):
                held.set()
                lock.release.wait(seconds)
        finally:
            lock.released.set()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert held.wait(10), "could not take the database lock"
    try:
        yield lock
    finally:
        lock.set()
        thread.join(10)
