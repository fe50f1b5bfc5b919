"""`torchtutor serve` (the web app) and `torchtutor run` (everything configured)."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from bot.cli.output import emit
from bot.cli.parser import CommandFailed
from bot.config import Settings, get_settings

if TYPE_CHECKING:
    from bot.runtime import Runtime


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    settings.require_web()
    _serve(settings, args.host or settings.host, args.port or settings.port, chat=False)
    return 0


def run(args: argparse.Namespace) -> int:
    """Start every configured face; without chat credentials, explain how to chat locally."""
    settings = get_settings()
    settings.require_web()
    for line in startup_banner(settings):
        emit(line)
    _serve(settings, settings.host, settings.port, chat=True)
    return 0


def startup_banner(settings: Settings) -> list[str]:
    """What `run` tells the operator it is starting."""
    url = f"http://{settings.host}:{settings.port}"
    lines = [f"torchtutor: web app on {url} (health: {url}/healthz)",
             f"  Playground (chat in the browser): {url}/playground",
             f"  Dashboard: {url}/dashboard (first account: torchtutor admin create-user --username NAME "
             "--role admin --password-stdin)"]
    if settings.has_discord:
        scope = f"guild {settings.discord_guild_id}" if settings.discord_guild_id else "globally"
        lines.append(f"torchtutor: Discord is configured (slash commands synced {scope})")
    if settings.has_slack:
        modes = [name for name, on in (("HTTP at POST /slack/events", settings.has_slack_http),
                                       ("Socket Mode", settings.has_slack_socket_mode),
                                       ("OAuth installs at /slack/install", settings.has_slack_oauth)) if on]
        lines.append(f"torchtutor: Slack is configured ({', '.join(modes)})")
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


def _serve(settings: Settings, host: str, port: int, *, chat: bool) -> None:
    """Serve until SIGTERM or SIGINT, then stop taking work, drain within TORCHTUTOR_SHUTDOWN_TIMEOUT, exit."""
    from bot.runtime import build_runtime

    runtime = build_runtime(settings)
    runtime.freeze_after_start = True
    asyncio.run(serve_all(runtime, settings, host, port, chat=chat))


async def serve_all(runtime: Runtime, settings: Settings, host: str, port: int, *, chat: bool = True) -> None:
    """The web app and, with `chat`, every configured chat platform, in this event loop until one stops."""
    import uvicorn

    from bot.web.app import create_app
    from bot.web.server import GracefulServer

    # log_config=None: uvicorn's lines go through torchtutor's handler (JSON in production); the access log is
    # the request-id middleware's. proxy_headers=False: the app believes forwarded headers only from
    # TORCHTUTOR_TRUSTED_PROXIES (bot.web.trust), where uvicorn would believe any loopback peer.
    config = uvicorn.Config(create_app(runtime, connect_chat=chat), host=host, port=port, lifespan="on",
                            log_config=None, log_level="info", access_log=False, proxy_headers=False,
                            timeout_graceful_shutdown=max(1, int(settings.shutdown_timeout)))
    if chat and settings.has_discord:
        from bot.adapters.discord import DiscordAdapter

        runtime.add_adapter(DiscordAdapter(runtime, settings))  # started and stopped by the app's lifespan
    server = GracefulServer(config, runtime)
    web = asyncio.create_task(server.serve(), name="web")
    failed = asyncio.create_task(runtime.first_face_failure(), name="adapters")
    try:
        await asyncio.wait({web, failed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True  # the web app shuts down gracefully; its lifespan stops every adapter
        failed.cancel()
        await asyncio.wait({web, failed})
    web.result()
    if not failed.cancelled():
        _raise_failure(failed.result())


def _raise_failure(exc: BaseException) -> None:
    """Turn a chat platform's start-up failure into one line for the operator."""
    import discord

    if isinstance(exc, discord.LoginFailure):
        raise CommandFailed("Discord refused the bot token: check TORCHTUTOR_DISCORD_TOKEN") from exc
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        raise CommandFailed(f"Discord refused the connection: {exc}") from exc
    raise exc
