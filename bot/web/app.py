"""The web application: health, the HTTP API, the Slack endpoint, the dashboard and the playground."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.adapters.web import WebChat
from bot.core.accounts import LoginPolicy
from bot.db.migrate import is_up_to_date
from bot.runtime import Runtime
from bot.web import api, playground, security, stats_api
from bot.web.dashboard import catalogue, knowledge, login, pages, quiz_panels  # noqa: F401  (registers tables)
from bot.web.reindex import Reindexer
from bot.web.templating import STATIC_DIR, render

if TYPE_CHECKING:
    from bot.adapters.slack import SlackAdapter

log = logging.getLogger(__name__)


def create_app(runtime: Runtime, *, connect_chat: bool = False) -> FastAPI:
    """The FastAPI app serving this runtime; the model and index load in the background at start-up.

    `connect_chat` (`torchtutor run`) also opens the chat connections that need no inbound URL: Slack's
    Socket Mode when TORCHTUTOR_SLACK_APP_TOKEN is set.
    """
    slack = _slack_adapter(runtime)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_start(runtime))
        if slack is not None and connect_chat and runtime.settings.has_slack_socket_mode:
            try:
                await slack.start_socket_mode()
            except Exception as exc:  # the web app stays useful; the operator sees why Slack is not connected
                log.error("Slack Socket Mode could not connect: %s", exc)
        yield
        task.cancel()
        if slack is not None:
            await slack.aclose()

    app = FastAPI(title="torchtutor", lifespan=lifespan, docs_url="/api/docs", redoc_url=None)
    app.state.runtime = runtime
    app.state.schema_ready = False
    app.state.slack = slack
    app.state.login_policy = LoginPolicy()
    app.state.reindexer = Reindexer(runtime.knowledge.reload)
    app.state.web_chat = WebChat(runtime.tutor, runtime.settings.session_secret())
    app.state.playground_limiters = (security.SlidingWindowLimiter(*playground.PER_VISITOR),
                                     security.SlidingWindowLimiter(*playground.PER_ADDRESS))
    security.install(app, runtime.settings)
    app.add_exception_handler(security.LoginRequired, _login_required)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in (api.router, stats_api.router, login.router, pages.router, knowledge.router, playground.router):
        app.include_router(router)
    app.add_api_route("/healthz", healthz, methods=["GET"])
    app.add_api_route("/", _home, methods=["GET"], include_in_schema=False)
    app.add_api_route("/slack/events", slack_events, methods=["POST"], include_in_schema=False)
    if slack is not None and slack.oauth_paths is not None:
        for path in slack.oauth_paths:
            app.add_api_route(path, slack_oauth, methods=["GET"], include_in_schema=False)
    return app


def _slack_adapter(runtime: Runtime) -> SlackAdapter | None:
    if not runtime.settings.has_slack:
        return None
    from bot.adapters.slack import build_slack_adapter

    return build_slack_adapter(runtime)


async def slack_events(request: Request) -> Response:
    """Slack's HTTP endpoint (slash commands, interactivity, Events API); Bolt verifies the signature."""
    slack = request.app.state.slack
    if slack is None or not request.app.state.runtime.settings.has_slack_http:
        return JSONResponse({"detail": "Slack is not configured here: set TORCHTUTOR_SLACK_SIGNING_SECRET and "
                                       "TORCHTUTOR_SLACK_BOT_TOKEN (or TORCHTUTOR_SLACK_CLIENT_ID and "
                                       "TORCHTUTOR_SLACK_CLIENT_SECRET); see README.md, Connect Slack"},
                            status_code=404)
    return await slack.handler.handle(request)


async def slack_oauth(request: Request) -> Response:
    """Bolt's OAuth flow: the install page and the redirect that stores a workspace's installation."""
    return await request.app.state.slack.handler.handle(request)


async def _home(request: Request) -> Response:
    return RedirectResponse("/playground", 303)


async def _login_required(request: Request, exc: Exception) -> Response:
    """Pages send strangers to the login form; the API answers 401."""
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": "log in first"}, status_code=401)
    return RedirectResponse(security.login_url(request), 303)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Errors on pages as pages; everything else (the API, the playground's fetches) as JSON."""
    assert isinstance(exc, StarletteHTTPException)
    wants_page = request.url.path.startswith(("/dashboard", "/login", "/logout")) and (
        request.method == "GET" or "text/html" in request.headers.get("accept", ""))
    if not wants_page:
        return await http_exception_handler(request, exc)
    return await asyncio.to_thread(render, request, "error.html", exc.status_code, exc.headers,
                                   status=exc.status_code, message=exc.detail)


async def _start(runtime: Runtime) -> None:
    try:
        await asyncio.to_thread(runtime.start)
    except Exception:
        log.exception("start-up failed; /healthz stays 503")


async def healthz(request: Request) -> JSONResponse:
    """200 once the model is loaded, the index built and the database migrated; 503 before."""
    app = request.app
    runtime: Runtime = app.state.runtime
    if not app.state.schema_ready:
        app.state.schema_ready = await asyncio.to_thread(_schema_ready, runtime)
    checks = {"model": runtime.ready, "database": app.state.schema_ready}
    if all(checks.values()):
        return JSONResponse({"status": "ok"})
    return JSONResponse({"status": "starting", "checks": checks}, status_code=503)


def _schema_ready(runtime: Runtime) -> bool:
    try:
        return is_up_to_date(runtime.database.engine)
    except SQLAlchemyError:
        return False
