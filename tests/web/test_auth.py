"""Who may do what in the web app: every dashboard and stats route, CSRF, login throttling, cookies, headers."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.config import Settings
from bot.db.account_models import Account
from bot.db.job_models import Job
from bot.web import security
from bot.web.app import create_app
from tests.conftest import cli
from tests.web.conftest import PASSWORD, csrf, log_in

ENTRY = "what-is-pytorch-and-what-are-its-two-main-features"
JOB = "census-job"
SAMPLE_PARAMS = {"entry_id": ENTRY, "name": "people", "job_id": JOB, "key": "gap-1"}
# Routes anyone may use: health, the playground, the login form, static files, the API's own token rule, docs.
PUBLIC = {"/", "/healthz", "/login", "/logout", "/playground", "/playground/send", "/api/v1/ask", "/api/docs",
          "/api/docs/oauth2-redirect", "/openapi.json"}
ADMIN_ONLY_PAGES = {"/dashboard/knowledge/new", "/dashboard/knowledge/{entry_id}/edit"}
FORM = {"question": "What is a leaf tensor?", "answer": "A tensor created by the user.", "aliases": "", "tags": "",
        "demo": "", "version": "0"}


@pytest.fixture
def finished_job(app) -> None:  # type: ignore[no-untyped-def]
    """A finished demo job, so the job pages (and its event stream, which then ends at once) have one to show."""
    with app.state.runtime.database.transaction() as session:
        session.add(Job(id=JOB, demo="backward-pass", params={}, queue="cpu", backend="local", time_limit_s=30.0,
                        platform="discord", status="succeeded", progress=1.0, stage="done",
                        result={"text": "sample result", "code": "", "metrics": {}}))


def _routes(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(method, path template) of every route the app documents (all but the static files and the `/` redirect)."""
    return [(method.upper(), path) for path, operations in app.openapi()["paths"].items() for method in operations]


def _url(template: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE_PARAMS[m.group(1)], template)


# The demo-job API follows the API token rule (tested in tests/bot/test_jobs_api.py), not dashboard sessions.
TOKEN_API = ("/api/v1/demos/", "/api/v1/jobs/")


def _guarded(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(m, p) for m, p in _routes(app) if p not in PUBLIC and not p.startswith(TOKEN_API)]


def test_the_route_census_covers_the_dashboard_and_the_stats_api(app) -> None:  # type: ignore[no-untyped-def]
    paths = {p for _, p in _guarded(app)}
    assert {"/dashboard", "/dashboard/quizzes", "/dashboard/knowledge", "/dashboard/gaps", "/dashboard/jobs",
            "/dashboard/export/{name}.csv", "/api/v1/stats", "/api/v1/stats/overview", "/api/v1/stats/{name}",
            "/dashboard/knowledge/{entry_id}/edit", "/dashboard/jobs/{job_id}", "/dashboard/jobs/{job_id}/events",
            "/dashboard/jobs/{job_id}/cancel", "/dashboard/gaps/{key}/dismiss"} <= paths
    assert all(p.startswith(("/dashboard", "/api/v1/stats")) for p in paths), paths


@pytest.mark.usefixtures("finished_job")
def test_a_stranger_sees_nothing(app, client_for) -> None:  # type: ignore[no-untyped-def]
    stranger = client_for()
    token = csrf(stranger, "/login")
    for method, path in _guarded(app):
        url = _url(path)
        response = stranger.request(method, url, data={"csrf_token": token, **FORM} if method == "POST" else None,
                                    follow_redirects=False)
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, url)
        else:
            assert response.status_code == 303, (method, url, response.status_code)
            assert response.headers["location"].startswith("/login?next=/dashboard")
        assert "question" not in response.text.lower()
    assert [info for info in app.state.runtime.knowledge_admin.list(include_deleted=True) if info.version] == []


@pytest.mark.usefixtures("finished_job")
def test_a_viewer_reads_everything_but_changes_nothing(app, client_for) -> None:  # type: ignore[no-untyped-def]
    viewer = client_for("vic")
    token = csrf(viewer, "/dashboard")
    for method, path in _guarded(app):
        url = _url(path)
        if method == "GET":
            expected = 403 if path in ADMIN_ONLY_PAGES else 200
            assert viewer.get(url).status_code == expected, url
        else:
            response = viewer.post(url, data={"csrf_token": token, **FORM}, follow_redirects=False)
            assert response.status_code == 403, (url, response.status_code)
    assert [info for info in app.state.runtime.knowledge_admin.list(include_deleted=True) if info.version] == []
    page = viewer.get(f"/dashboard/knowledge/{ENTRY}").text
    assert "/edit" not in page and "New entry" not in viewer.get("/dashboard/knowledge").text


@pytest.mark.usefixtures("finished_job")
def test_an_admin_may_open_every_page(app, client_for) -> None:  # type: ignore[no-untyped-def]
    admin = client_for("ada")
    for method, path in _guarded(app):
        if method == "GET":
            assert admin.get(_url(path)).status_code == 200, path


def test_posts_without_the_sessions_csrf_token_are_refused(app, client_for) -> None:  # type: ignore[no-untyped-def]
    admin = client_for("ada")
    other = client_for("vic")
    for data in ({}, {"csrf_token": "forged"}, {"csrf_token": csrf(other, "/dashboard")}):
        response = admin.post("/dashboard/knowledge/new", data={**FORM, **data}, follow_redirects=False)
        assert response.status_code == 403
    assert admin.post("/dashboard/knowledge/new", data={**FORM, "csrf_token": csrf(admin, "/dashboard")},
                      follow_redirects=False).status_code == 303
    stranger = client_for()
    assert stranger.post("/login", data={"username": "ada", "password": PASSWORD}).status_code == 403


def test_wrong_passwords_get_401_then_429_even_with_the_right_one(app, client_for) -> None:  # type: ignore[no-untyped-def]
    client = client_for(address="10.9.9.9")
    token = csrf(client)
    for _ in range(app.state.login_policy.max_failures_per_name):
        response = client.post("/login", data={"username": "ada", "password": "guess", "csrf_token": token})
        assert response.status_code == 401 and "Wrong username or password" in response.text
    refused = client.post("/login", data={"username": "ada", "password": PASSWORD, "csrf_token": token})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "Too many failed logins" in refused.text
    log_in(client_for(address="10.8.8.8"), "vic")  # other accounts still log in


def test_many_failures_from_one_address_throttle_it_for_every_name(app, client_for) -> None:  # type: ignore[no-untyped-def]
    client = client_for(address="10.7.7.7")
    token = csrf(client)
    for n in range(app.state.login_policy.max_failures_per_client):
        client.post("/login", data={"username": f"nobody{n}", "password": "guess", "csrf_token": token})
    assert client.post("/login", data={"username": "vic", "password": PASSWORD, "csrf_token": token}
                       ).status_code == 429


def test_session_cookie_is_httponly_samesite_secure_and_expiring(app, client_for) -> None:  # type: ignore[no-untyped-def]
    client = client_for()
    response = client.post("/login", data={"username": "ada", "password": PASSWORD, "csrf_token": csrf(client)},
                           follow_redirects=False)
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith(security.SESSION_COOKIE)
    for flag in ("httponly", "samesite=lax", "secure", f"max-age={security.SESSION_MAX_AGE_S}"):
        assert flag in cookie


def test_development_cookies_are_not_secure_so_plain_http_works(runtime) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(environment="development", database_url=runtime.settings.database_url)
    client = TestClient(create_app(replace(runtime, settings=settings)), base_url="http://localhost")
    assert "secure" not in client.get("/login").headers["set-cookie"].lower()


def test_sessions_expire_after_eight_hours(app, client_for, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import time

    admin = client_for("ada")
    assert admin.get("/dashboard", follow_redirects=False).status_code == 200
    later = time.time() + security.SESSION_MAX_AGE_S + 60
    monkeypatch.setattr(security.time, "time", lambda: later)
    assert admin.get("/dashboard", follow_redirects=False).status_code == 303


def test_changing_the_password_ends_existing_sessions(app, client_for) -> None:  # type: ignore[no-untyped-def]
    from argon2 import PasswordHasher

    admin = client_for("ada")
    with app.state.runtime.database.transaction() as session:
        account = session.scalars(select(Account).where(Account.username == "ada")).one()
        account.password_hash = PasswordHasher().hash("a brand new password")
    assert admin.get("/dashboard", follow_redirects=False).status_code == 303


def test_logout_ends_the_session(app, client_for) -> None:  # type: ignore[no-untyped-def]
    admin = client_for("ada")
    assert admin.post("/logout", data={"csrf_token": csrf(admin, "/dashboard")},
                      follow_redirects=False).status_code == 303
    assert admin.get("/dashboard", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(("target", "expected"), [
    ("/dashboard/gaps?days=7", "/dashboard/gaps?days=7"), ("//evil.example/x", "/dashboard"),
    ("https://evil.example/", "/dashboard"), ("/\\evil.example", "/dashboard"),
])
def test_login_returns_only_to_local_pages(client_for, target, expected) -> None:  # type: ignore[no-untyped-def]
    client = client_for()
    response = client.post("/login", data={"username": "ada", "password": PASSWORD, "next": target,
                                           "csrf_token": csrf(client)}, follow_redirects=False)
    assert response.headers["location"] == expected


@pytest.mark.parametrize("path", ["/login", "/dashboard", "/api/v1/stats", "/healthz"])
def test_security_headers_on_every_response(client_for, path) -> None:  # type: ignore[no-untyped-def]
    response = client_for().get(path, follow_redirects=False)
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    if path != "/healthz":
        assert response.headers["cache-control"] == "no-store"


def test_the_stats_api_takes_the_bearer_token_when_one_is_set(runtime) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(environment="test", database_url=runtime.settings.database_url, api_token="tok-123456")
    client = TestClient(create_app(replace(runtime, settings=settings)), base_url="https://testserver")
    assert client.get("/api/v1/stats/overview").status_code == 401
    assert client.get("/api/v1/stats/overview", headers={"Authorization": "Bearer wrong"}).status_code == 401
    response = client.get("/api/v1/stats/overview", headers={"Authorization": "Bearer tok-123456"})
    assert response.status_code == 200 and response.json()["asked"] == 0


def test_production_without_a_secret_key_is_refused() -> None:
    result = cli("serve", env={"TORCHTUTOR_ENVIRONMENT": "production"})
    assert result.returncode == 2
    assert "TORCHTUTOR_SECRET_KEY" in result.stderr and result.stderr.strip().count("\n") == 0
