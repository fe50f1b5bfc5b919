"""The web application: health, metrics, the HTTP API, the Slack endpoint, the dashboard and the playground."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.adapters.playground import WebChat
from bot.core.admin.accounts import LoginPolicy
from bot.db.availability import DatabaseUnavailable, is_unavailable
from bot.health import run_checks
from bot.metrics import CONTENT_TYPE
from bot.runtime import Runtime
from bot.web import api, jobs_api, limits, playground, security, stats_api
from bot.web.auth import require_metrics_access
from bot.web.dashboard import catalogue, knowledge, login, pages, quiz_panels  # noqa: F401  (registers tables)
from bot.web.dashboard import gaps as dashboard_gaps
from bot.web.dashboard import jobs as dashboard_jobs
from bot.web.middleware import RequestContext
from bot.web.reindex import Reindexer
from bot.web.templating import STATIC_DIR, render
from bot.web.trust import TrustBoundary

if TYPE_CHECKING:
    from bot.adapters.slack import SlackAdapter

log = logging.getLogger(__name__)


def create_app(runtime: Runtime, *, connect_chat: bool = False) -> FastAPI:
    """The FastAPI app serving this runtime; the model and index load in the background at start-up.

    `connect_chat` (`torchtutor run`) also connects Slack's Socket Mode when TORCHTUTOR_SLACK_APP_TOKEN is set.
    Every adapter is the runtime's (`runtime.add_adapter`: Slack's here, as its HTTP endpoint lives in this app;
    Discord's by `torchtutor run`): the lifespan starts them with the background loops and, when the server
    stops, runs the shutdown hooks, stops them and closes the runtime's connections.
    """
    slack = _slack_adapter(runtime, socket_mode=connect_chat)
    if slack is not None:
        runtime.add_adapter(slack)  # also without Socket Mode: it serves POST /slack/events and posts to channels

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_start(runtime))
        await runtime.start_faces()
        try:
            yield
        finally:
            task.cancel()
            # The shutdown hooks first: a job finishing in the drain still has its adapter to post the result.
            await runtime.shutdown("server stopping")  # the "workers" hook stops the pool within the deadline
            await runtime.stop_faces()
            runtime.close()
            log.info("stopped")

    public_docs = runtime.settings.environment != "production"
    app = FastAPI(title="torchtutor", lifespan=lifespan, redoc_url=None, docs_url="/api/docs" if public_docs else None,
                  openapi_url="/openapi.json" if public_docs else None)
    app.state.runtime = runtime
    app.state.health = {}
    app.state.slack = slack
    app.state.login_policy = LoginPolicy()
    app.state.reindexer = Reindexer(runtime.knowledge.reload)
    runtime.knowledge_admin.on_change = app.state.reindexer.request  # dashboard saves reindex in the background
    app.state.web_chat = WebChat(runtime.tutor, runtime.settings.session_secret())
    app.state.playground_limiters = (security.SlidingWindowLimiter(*playground.PER_VISITOR),
                                     security.SlidingWindowLimiter(*playground.PER_ADDRESS))
    app.add_middleware(ServerTiming)
    app.add_middleware(limits.BodyLimits)
    app.add_middleware(RequestContext)
    security.install(app, runtime.settings)
    app.add_middleware(TrustBoundary, proxies=runtime.settings.proxy_networks(), hosts=runtime.settings.web_hosts())
    app.add_exception_handler(security.LoginRequired, _login_required)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, limits.validation_error)
    for unavailable in (SQLAlchemyError, DatabaseUnavailable):
        app.add_exception_handler(unavailable, _database_error)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    routers = (api.router, jobs_api.router, stats_api.router, login.router, pages.router, dashboard_jobs.router,
               dashboard_gaps.router, knowledge.router, playground.router)
    for router in routers:
        app.include_router(router)
    app.add_api_route("/healthz", healthz, methods=["GET"])
    app.add_api_route("/", _home, methods=["GET"], include_in_schema=False)
    app.add_api_route("/slack/events", slack_events, methods=["POST"], include_in_schema=False)
    if slack is not None and slack.oauth_paths is not None:
        for path in slack.oauth_paths:
            app.add_api_route(path, slack_oauth, methods=["GET"], include_in_schema=False)
    if not public_docs:  # in production the schema and its page are for operators: API token or dashboard session
        app.add_api_route("/openapi.json", _openapi, methods=["GET"], include_in_schema=False,
                          dependencies=[Depends(security.require_stats_reader)])
        app.add_api_route("/api/docs", _docs, methods=["GET"], include_in_schema=False,
                          dependencies=[Depends(security.require_stats_reader)])
    app.add_api_route("/metrics", metrics, methods=["GET"], dependencies=[Depends(require_metrics_access)],
                      include_in_schema=False)
    return app


def _slack_adapter(runtime: Runtime, *, socket_mode: bool) -> SlackAdapter | None:
    if not runtime.settings.has_slack:
        return None
    from bot.adapters.slack import build_slack_adapter

    return build_slack_adapter(runtime, socket_mode=socket_mode)


async def slack_events(request: Request) -> Response:
    """Slack's HTTP endpoint (slash commands, interactivity, Events API): checked, claimed once, then Bolt's."""
    slack = request.app.state.slack
    if slack is None or not request.app.state.runtime.settings.has_slack_http:
        return JSONResponse({"detail": "Slack is not configured here: set TORCHTUTOR_SLACK_SIGNING_SECRET and "
                                       "TORCHTUTOR_SLACK_BOT_TOKEN (or TORCHTUTOR_SLACK_CLIENT_ID and "
                                       "TORCHTUTOR_SLACK_CLIENT_SECRET); see README.md, Connect Slack"},
                            status_code=404)
    from bot.adapters.slack.http import handle_events

    return await handle_events(slack, request)


async def slack_oauth(request: Request) -> Response:
    """Bolt's OAuth flow: the install page and the redirect that stores a workspace's installation."""
    response: Response = await request.app.state.slack.handler.handle(request)
    return response


async def _openapi(request: Request) -> Response:
    return JSONResponse(request.app.openapi())


async def _docs(request: Request) -> Response:
    return get_swagger_ui_html(openapi_url="/openapi.json", title="torchtutor API")


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
    return await asyncio.to_thread(render, request, "error.html", exc.status_code, dict(exc.headers or {}),
                                   status=exc.status_code, message=exc.detail)


DATABASE_BUSY = "The database is busy or unreachable right now, so this could not be done. Try again in a few seconds."
RETRY_AFTER_S = 5


async def _database_error(request: Request, exc: Exception) -> Response:
    """A request that could not reach the database (locked, overloaded, down): 503 with one line and
    Retry-After, as a page or as JSON like other errors. Any other database error stays a logged 500."""
    if not is_unavailable(exc):
        raise exc
    reason = (str(getattr(exc, "orig", None) or exc).splitlines() or [type(exc).__name__])[0][:200]
    log.warning("%s %s: the database is unavailable (%s)", request.method, request.url.path, reason)
    request.state.viewer = None  # the error page must not need the database to show who is logged in
    error = StarletteHTTPException(503, DATABASE_BUSY, headers={"Retry-After": str(RETRY_AFTER_S)})
    return await _http_error(request, error)


class ServerTiming:
    """ASGI middleware adding `Server-Timing: app;dur=MS`: the time from receiving a request to its response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - started) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={elapsed:.3f}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed_send)


async def _start(runtime: Runtime) -> None:
    # The model and the index first: on a small machine the pool's processes (each importing torch) would
    # otherwise take the cores that answering needs, and /healthz would wait for them.
    try:
        await asyncio.to_thread(runtime.start)
    except Exception as exc:
        runtime.start_error = f"{type(exc).__name__}: {exc}"
        log.exception("start-up failed; /healthz stays 503")
    try:
        await asyncio.to_thread(runtime.start_workers)  # they warm up in the background
    except Exception:
        log.exception("the demo workers could not start; demos will wait in the queue")


async def healthz(request: Request) -> JSONResponse:
    """200 `{"status": "ok"}` when every check passes (model, database, queue, ...); else 503 naming the failing."""
    app = request.app
    runtime: Runtime = app.state.runtime
    results = await run_checks(runtime.health_checks)
    _log_changes(app.state.health, results, logging.WARNING if runtime.ready else logging.INFO)
    checks = {name: reason is None for name, reason in results.items()}
    failing = [name for name, ok in checks.items() if not ok]
    if runtime.draining:
        return JSONResponse({"status": "stopping", "checks": checks, "failing": failing}, status_code=503)
    if not failing:
        return JSONResponse({"status": "ok"})
    status = "starting" if not runtime.ready and runtime.start_error is None else "unhealthy"
    # Reasons go to the log, not to whoever can reach /healthz (they name hosts and databases).
    return JSONResponse({"status": status, "checks": checks, "failing": failing}, status_code=503)


def _log_changes(last: dict[str, str | None], results: dict[str, str | None], level: int) -> None:
    """Log a check when it turns red, changes reason, or recovers; not on every probe."""
    for name, reason in results.items():
        before = last.get(name)
        if reason is not None and reason != before:
            log.log(level, "health check %s failing: %s", name, reason)
        elif reason is None and before is not None:
            log.info("health check %s recovered", name)
        last[name] = reason


async def metrics(request: Request) -> Response:
    """Prometheus text format; the scrape-time sources query the database, so render off the event loop."""
    runtime: Runtime = request.app.state.runtime
    body = await asyncio.to_thread(runtime.metrics.render)
    return Response(body, media_type=CONTENT_TYPE)
