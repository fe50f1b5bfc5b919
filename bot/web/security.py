"""Web security in one place: signed sessions, CSRF tokens, who is logged in, roles, rate limits and headers."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, cast
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request
from starlette.datastructures import MutableHeaders
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.config import Settings

SESSION_COOKIE = "tt_session"
SESSION_MAX_AGE_S = 8 * 3600
SESSION_MAX_AGE = timedelta(seconds=SESSION_MAX_AGE_S)
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

# Self only: every script and style is a file under /static, images may be data: URLs (demo plots).
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
                           "form-action 'self'; frame-ancestors 'none'")


@dataclass(frozen=True)
class Viewer:
    """The logged-in dashboard account, as the web layer sees it."""

    id: int
    username: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class LoginRequired(Exception):
    """No valid dashboard session: pages redirect to the login form, the API answers 401."""


def install(app: FastAPI, settings: Settings) -> None:
    """Signed session cookies (Secure outside development) and the security headers on every response."""
    app.add_middleware(SessionMiddleware, secret_key=settings.session_secret(), session_cookie=SESSION_COOKIE,
                       max_age=SESSION_MAX_AGE_S, same_site="lax", https_only=settings.environment != "development")
    app.add_middleware(SecurityHeaders, hsts=settings.environment == "production")


# -- CSRF: a random token per session, echoed in every form and in the header of every script's POST -------------

def csrf_token(request: Request) -> str:
    """This session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return str(token)


def visitor_id(request: Request) -> str:
    """A random id for this browser's session, anonymous or not (the playground's person)."""
    visitor = request.session.get("visitor")
    if not visitor:
        visitor = request.session["visitor"] = secrets.token_urlsafe(12)
    return str(visitor)


async def require_csrf(request: Request) -> None:
    """FastAPI dependency for unsafe methods: 403 unless the form field or header carries this session's token."""
    expected = request.session.get("csrf")
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not expected or not given or not hmac.compare_digest(str(expected), given):
        raise HTTPException(403, "missing or stale CSRF token: reload the page and try again")


# -- Who is logged in ----------------------------------------------------------------------------------------------

def log_in(request: Request, account: Any) -> None:
    """Start a fresh session, stored on the server (new CSRF token, so a token seen before login is useless)."""
    from bot.core.admin.accounts import password_fingerprint, start_session

    with request.app.state.runtime.database.transaction() as session:
        token = start_session(session=session, account_id=account.id, max_age=SESSION_MAX_AGE)
    visitor = request.session.get("visitor")
    request.session.clear()
    request.session.update({"sid": token, "fp": password_fingerprint(account), "at": int(time.time()),
                            "csrf": secrets.token_urlsafe(32), "visitor": visitor or secrets.token_urlsafe(12)})


def log_out(request: Request) -> None:
    """End the session on the server, so a copy of the cookie is refused too; the browser keeps an anonymous one."""
    from bot.core.admin.accounts import end_session

    token = request.session.get("sid")
    if isinstance(token, str):
        with request.app.state.runtime.database.transaction() as session:
            end_session(session=session, token=token)
    request.session.clear()


def current_viewer(request: Request) -> Viewer | None:
    """The account behind this request's session, or None (logged out, expired, deleted, or password changed)."""
    cached = getattr(request.state, "viewer", False)
    if cached is not False:
        return cast(Viewer | None, cached)
    viewer = _load_viewer(request)
    request.state.viewer = viewer
    return viewer


def _load_viewer(request: Request) -> Viewer | None:
    from bot.core.admin.accounts import password_fingerprint, session_account

    token, logged_in_at = request.session.get("sid"), request.session.get("at", 0)
    if not isinstance(token, str) or not isinstance(logged_in_at, int) \
            or time.time() - logged_in_at > SESSION_MAX_AGE_S:
        return None
    with request.app.state.runtime.database.session() as session:
        account = session_account(session=session, token=token, max_age=SESSION_MAX_AGE)
        if account is None or not hmac.compare_digest(password_fingerprint(account), str(request.session.get("fp"))):
            return None
        return Viewer(account.id, account.username, account.role)


def require_viewer(request: Request) -> Viewer:
    """FastAPI dependency (sync, so the database read runs off the event loop): any logged-in account."""
    viewer = current_viewer(request)
    if viewer is None:
        raise LoginRequired()
    return viewer


def require_admin(request: Request) -> Viewer:
    """FastAPI dependency: an admin account; a viewer gets 403."""
    viewer = require_viewer(request)
    if not viewer.is_admin:
        raise HTTPException(403, "this needs an admin account")
    return viewer


ViewerDep = Annotated[Viewer, Depends(require_viewer)]
AdminDep = Annotated[Viewer, Depends(require_admin)]


def require_stats_reader(request: Request) -> Viewer | None:
    """The stats API: a dashboard session, or the API bearer token when one is configured; else 401."""
    token = request.app.state.runtime.settings.api_token
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if token is not None and scheme.lower() == "bearer":
        if hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode()):
            return None
        raise HTTPException(401, "wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
    viewer = current_viewer(request)
    if viewer is None:
        raise HTTPException(401, "log in to the dashboard or send the API bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
    return viewer


def login_redirect_target(path: str | None) -> str:
    """A safe place to go after login: a local path, never another site."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/dashboard"
    return path


def login_url(request: Request) -> str:
    """The login form, returning to this page afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(target, safe='/')}"


# -- Rate limits -----------------------------------------------------------------------------------------------------

class SlidingWindowLimiter:
    """At most `limit` events per key within `window_s` seconds.

    In process memory on purpose: it only shields the playground from floods; a restart forgetting it is harmless,
    and login guessing is limited in the database instead (bot.core.admin.accounts), where it holds across processes.
    """

    def __init__(self, limit: int, window_s: float, max_keys: int = 10_000) -> None:
        self.limit, self.window_s, self.max_keys = limit, window_s, max_keys
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> float:
        """Count one event; 0.0 when allowed, else seconds until the next one would be."""
        now = time.monotonic() if now is None else now
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window_s:
                events.popleft()
            if len(events) >= self.limit:
                return events[0] + self.window_s - now
            events.append(now)
            if len(self._events) > self.max_keys:
                self._forget_idle(now)
            return 0.0

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, v in self._events.items() if not v or v[-1] <= now - self.window_s]:
            del self._events[key]


# -- Headers ---------------------------------------------------------------------------------------------------------

class SecurityHeaders:
    """Adds CSP, frame, sniffing and referrer headers to every response; no-store on private pages."""

    PRIVATE = ("/dashboard", "/login", "/logout", "/api/v1/stats", "/playground")

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if not path.startswith("/api/docs"):  # Swagger UI's inline script would be refused
                    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
                headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
                if self.hsts:
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000")
                if path.startswith(self.PRIVATE):
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
