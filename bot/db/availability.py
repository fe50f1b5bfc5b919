"""Telling "the database is busy or unreachable, try again" apart from every other database error."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import exc as sa_exc

log = logging.getLogger(__name__)
T = TypeVar("T")


class DatabaseUnavailable(Exception):
    """The database could not be reached or stayed locked; the work may succeed if tried again later."""

    def __init__(self, reason: str = "the database is busy or unreachable") -> None:
        super().__init__(reason)


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` means the database is locked, overloaded or unreachable (worth retrying), rather than a
    refusal (a constraint, a bad statement) that would fail the same way again."""
    if isinstance(error, DatabaseUnavailable | sa_exc.TimeoutError):  # TimeoutError: no pooled connection free
        return True
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        return isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError) and not _is_schema_error(error)
    return False


async def unless_unavailable(default: T, work: Callable[..., T], *args: Any) -> T:
    """`work(*args)` in a worker thread, or `default` when the database is unavailable (logged): for what a reply
    can do without (a thread's context, remembering where an answer went)."""
    try:
        return await asyncio.to_thread(work, *args)
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        log.warning("going on without %s: the database is unavailable (%s)", getattr(work, "__name__", "it"),
                    type(exc).__name__)
        return default


def _is_schema_error(error: sa_exc.DBAPIError) -> bool:
    """SQLite reports a missing table as an OperationalError too; that one is not going to heal by waiting."""
    text = str(error.orig).lower()
    return "no such table" in text or "no such column" in text or "syntax error" in text
