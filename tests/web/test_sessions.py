"""Dashboard sessions end on the server, and password guessing elsewhere cannot lock the owner out."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from tests.conftest import cli
from tests.web.conftest import PASSWORD, csrf


def _copy_of(app, client: TestClient) -> TestClient:  # type: ignore[no-untyped-def]
    """Another browser (another address) holding a copy of the client's cookies."""
    thief = TestClient(app, base_url="https://testserver", client=("198.51.100.9", 40000))
    thief.cookies.update(client.cookies)
    return thief


def _is_logged_in(client: TestClient) -> tuple[bool, bool]:
    page = client.get("/dashboard", follow_redirects=False).status_code
    api = client.get("/api/v1/stats/overview").status_code
    return page == 200, api == 200


def test_a_cookie_copied_before_logout_is_refused_after_it(app, client_for) -> None:  # type: ignore[no-untyped-def]
    admin = client_for("ada")
    copy = _copy_of(app, admin)
    assert _is_logged_in(copy) == (True, True)
    elsewhere = client_for("ada")  # the same account in another browser stays logged in
    response = admin.post("/logout", data={"csrf_token": csrf(admin, "/dashboard")}, follow_redirects=False)
    assert response.status_code == 303
    assert _is_logged_in(copy) == (False, False)
    assert _is_logged_in(admin) == (False, False)
    assert _is_logged_in(elsewhere) == (True, True)


def test_setting_a_password_ends_every_session_of_the_account(app, client_for) -> None:  # type: ignore[no-untyped-def]
    admin, viewer = client_for("ada"), client_for("vic")
    copy = _copy_of(app, admin)
    result = cli("admin", "set-password", "--username", "ADA", "--password-stdin", input="a brand new password\n")
    assert result.returncode == 0, result.stderr
    assert "ada" in result.stdout
    assert _is_logged_in(admin) == (False, False) and _is_logged_in(copy) == (False, False)
    assert _is_logged_in(viewer) == (True, True), "other accounts keep their sessions"
    fresh = client_for()
    old = fresh.post("/login", data={"username": "ada", "password": PASSWORD, "csrf_token": csrf(fresh)},
                     follow_redirects=False)
    assert old.status_code == 401
    new = fresh.post("/login", data={"username": "ada", "password": "a brand new password",
                                     "csrf_token": csrf(fresh)}, follow_redirects=False)
    assert new.status_code == 303 and _is_logged_in(fresh) == (True, True)
    unknown = cli("admin", "set-password", "--username", "nobody", "--password-stdin", input="long enough pw\n")
    assert unknown.returncode == 2 and unknown.stderr.strip().count("\n") == 0


def test_guessing_from_one_address_does_not_lock_the_owner_out(app, client_for) -> None:  # type: ignore[no-untyped-def]
    attacker = client_for(address="203.0.113.66")
    for _ in range(5):
        response = attacker.post("/login", data={"username": "ada", "password": "guess", "csrf_token": csrf(attacker)})
        assert response.status_code == 401
    locked = attacker.post("/login", data={"username": "ada", "password": PASSWORD, "csrf_token": csrf(attacker)})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 60

    owner = client_for(address="192.0.2.10")
    deadline = time.monotonic() + 30
    while True:  # the name is slowed down (a second or two), not locked for the window
        response = owner.post("/login", data={"username": "ada", "password": PASSWORD, "csrf_token": csrf(owner)},
                              follow_redirects=False)
        if response.status_code != 429:
            break
        assert int(response.headers["retry-after"]) <= 30, "a slow-down, not a lockout"
        assert time.monotonic() < deadline, "the owner never got in"
        time.sleep(0.2)
    assert response.status_code == 303
    assert _is_logged_in(owner) == (True, True)
