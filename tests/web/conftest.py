"""Fixtures for the web app: an app over a migrated runtime, accounts, and logged-in clients."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from bot.core.admin.accounts import create_account
from bot.runtime import Runtime
from bot.web.app import create_app

PASSWORD = "correct horse battery"
_TOKEN = re.compile(r'name="csrf-token" content="([^"]+)"')


def make_account(runtime: Runtime, username: str, role: str, password: str = PASSWORD) -> None:
    """Create a dashboard account directly in the database."""
    with runtime.database.transaction() as session:
        create_account(session=session, username=username, password=password, role=role)


def csrf(client: TestClient, path: str = "/login") -> str:
    """The CSRF token of the client's session, as the page at `path` shows it."""
    response = client.get(path)
    match = _TOKEN.search(response.text)
    assert match, f"no CSRF token on {path} ({response.status_code})"
    return match.group(1)


def log_in(client: TestClient, username: str, password: str = PASSWORD) -> TestClient:
    """Log the client in through the form; fails the test when that does not work."""
    response = client.post("/login", data={"username": username, "password": password,
                                           "csrf_token": csrf(client)}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return client


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its production cost takes ~0.5 s a hash here; in-process tests use a cheap one (CLI tests do not)."""
    from argon2 import PasswordHasher

    from bot.core.admin import accounts

    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    accounts._dummy_hash.cache_clear()


@pytest.fixture
def app(runtime):  # type: ignore[no-untyped-def]
    """The web app over a started runtime with an admin `ada` and a viewer `vic`."""
    make_account(runtime, "ada", "admin")
    make_account(runtime, "vic", "viewer")
    return create_app(runtime)


@pytest.fixture
def client_for(app) -> Callable[..., TestClient]:  # type: ignore[no-untyped-def]
    """A factory of clients (https, so Secure cookies travel), logged in as the named account or anonymous.

    The clients skip the app's lifespan: the runtime fixture has already loaded the model and the index.
    """

    def make(username: str | None = None, address: str = "10.0.0.1") -> TestClient:
        client = TestClient(app, base_url="https://testserver", client=(address, 50000))
        return log_in(client, username) if username else client

    return make
