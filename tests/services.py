"""Reaching the real services tests need: skip with a reason locally, fail under CI when one is down."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

POSTGRES_URL = os.environ.get("TORCHTUTOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TORCHTUTOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def in_ci() -> bool:
    """Whether this run is CI's, where every service must be there."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url.replace("+psycopg", ""))
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def require(name: str, url: str, default_port: int) -> str:
    """The service's URL, or a skip (locally) / failure (CI) saying it is unreachable."""
    if _reachable(url, default_port):
        return url
    message = f"{name} is not reachable at {url}"
    if in_ci():
        pytest.fail(f"{message}; CI needs it (see .ci/run)", pytrace=False)
    pytest.skip(f"{message}; start it to run this test")


def require_postgres() -> str:
    """The URL of the test PostgreSQL server's admin database."""
    return require("PostgreSQL", POSTGRES_URL, 5432)


def require_redis() -> str:
    """The URL of the test Redis server."""
    return require("Redis", REDIS_URL, 6379)
