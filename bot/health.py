"""Readiness checks: named probes that `/healthz` and `torchtutor healthcheck` run live, each within a timeout.

A probe is a plain function that returns when its dependency is usable and raises (any exception; its message is
the reason) when it is not. Probes run in worker threads, concurrently, on every call: nothing is cached, so a
database that goes away turns the next check red.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from bot.db.engine import Database

DEFAULT_TIMEOUT_S = 3.0
STATEMENT_TIMEOUT_MS = 2000


class Unhealthy(Exception):
    """A probe's way of saying why its dependency is not usable."""


@dataclass(frozen=True)
class HealthCheck:
    """A named probe and how long it may take."""

    name: str
    probe: Callable[[], Any]
    timeout: float = DEFAULT_TIMEOUT_S


async def run_checks(checks: Sequence[HealthCheck]) -> dict[str, str | None]:
    """{name: None when healthy, else the reason}, in the checks' order."""

    async def one(check: HealthCheck) -> str | None:
        try:
            await asyncio.wait_for(asyncio.to_thread(check.probe), check.timeout)
        except TimeoutError:
            return f"no answer within {check.timeout:g}s"
        except Exception as exc:  # any failure of a probe is a reason, never a crash of /healthz
            return _reason(exc)
        return None

    results = await asyncio.gather(*(one(check) for check in checks))
    return {check.name: result for check, result in zip(checks, results, strict=True)}


def database_check(database: Database, timeout: float = DEFAULT_TIMEOUT_S) -> HealthCheck:
    """A live `SELECT 1` plus the schema revision: unhealthy when unreachable, empty or behind this code."""

    def probe() -> None:
        from bot.db.migrate import head_revision, schema_state  # alembic: imported when first probed

        with database.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}")
            connection.exec_driver_sql("SELECT 1")
            state = schema_state(connection)
        if state == "empty":
            raise Unhealthy("not migrated: run `torchtutor migrate`")
        if state == "behind":
            raise Unhealthy(f"schema is older than this code's {head_revision()}: run `torchtutor migrate`")

    return HealthCheck("database", probe, timeout)


class QueueProbe:
    """Pings the broker: Redis PING for redis:// URLs, a TCP connect for others. Reuses one client."""

    def __init__(self, url: str, timeout: float = 1.5) -> None:
        self.url = url
        self.timeout = timeout
        self._client: Any = None
        self._lock = threading.Lock()

    def __call__(self) -> None:
        scheme = urlparse(self.url).scheme
        if scheme in ("redis", "rediss", "unix"):
            self._redis().ping()
            return
        parsed = urlparse(self.url)
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5672), timeout=self.timeout):
            pass

    def _redis(self) -> Any:
        with self._lock:
            if self._client is None:
                import redis

                self._client = redis.Redis.from_url(self.url, socket_connect_timeout=self.timeout,
                                                    socket_timeout=self.timeout)
            return self._client

    def close(self) -> None:
        """Release the broker connection."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def queue_check(url: str, timeout: float = DEFAULT_TIMEOUT_S) -> HealthCheck:
    """The broker the celery backend sends jobs through."""
    return HealthCheck("queue", QueueProbe(url), timeout)


def _reason(exc: BaseException) -> str:
    message = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    text = message[0] if message else ""
    return f"{type(exc).__name__}: {text}" if not isinstance(exc, Unhealthy) else text
