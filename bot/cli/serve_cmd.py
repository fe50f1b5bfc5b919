"""`torchtutor serve` (the web app) and `torchtutor run` (everything configured)."""

from __future__ import annotations

import argparse

from bot.cli.output import emit
from bot.config import Settings, get_settings


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `run` and `serve` commands."""
    run_parser = commands.add_parser("run", help="start everything configured: chat adapters, web app, workers")
    run_parser.set_defaults(func=run)
    serve_parser = commands.add_parser("serve", help="the web app alone: dashboard, playground, HTTP API")
    serve_parser.add_argument("--host", help="address to bind (default: TORCHTUTOR_HOST or 127.0.0.1)")
    serve_parser.add_argument("--port", type=int, help="port (default: TORCHTUTOR_PORT or 8000)")
    serve_parser.set_defaults(func=serve)


def serve(args: argparse.Namespace) -> int:
    """Serve the web app in the foreground."""
    settings = get_settings()
    _serve(settings, args.host or settings.host, args.port or settings.port)
    return 0


def run(args: argparse.Namespace) -> int:
    """Start every configured face; without chat credentials, explain how to chat locally."""
    settings = get_settings()
    for line in startup_banner(settings):
        emit(line)
    _serve(settings, settings.host, settings.port)
    return 0


def startup_banner(settings: Settings) -> list[str]:
    """What `run` tells the operator it is starting."""
    url = f"http://{settings.host}:{settings.port}"
    lines = [f"torchtutor: web app on {url} (health: {url}/healthz)"]
    if settings.has_discord:
        lines.append("torchtutor: Discord is configured")
    if settings.has_slack:
        lines.append("torchtutor: Slack is configured")
    if not (settings.has_discord or settings.has_slack):
        lines += [
            "torchtutor: no Discord or Slack credentials are set, so no chat platform is connected.",
            "  Chat in this terminal:   .venv/bin/torchtutor chat",
            f"  Ask over HTTP:           curl -s {url}/api/v1/ask -H 'content-type: application/json' "
            "-d '{\"question\": \"what is a tensor?\"}'",
            "  Connect a platform:      set TORCHTUTOR_DISCORD_TOKEN or TORCHTUTOR_SLACK_BOT_TOKEN and "
            "TORCHTUTOR_SLACK_SIGNING_SECRET (see README.md)",
        ]
    return lines


def _serve(settings: Settings, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT, then stop taking work, drain within TORCHTUTOR_SHUTDOWN_TIMEOUT, exit."""
    import uvicorn

    from bot.runtime import build_runtime
    from bot.web.app import create_app
    from bot.web.server import GracefulServer

    runtime = build_runtime(settings)
    # log_config=None: uvicorn's lines go through torchtutor's handler (JSON in production); the access log is
    # the request-id middleware's.
    config = uvicorn.Config(create_app(runtime), host=host, port=port, lifespan="on", log_config=None,
                            log_level="info", access_log=False,
                            timeout_graceful_shutdown=max(1, int(settings.shutdown_timeout)))
    GracefulServer(config, runtime).run()
