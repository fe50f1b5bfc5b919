"""`torchtutor healthcheck`: the container health check of every torchtutor service."""

from __future__ import annotations

import argparse
import asyncio
import json
import urllib.error
import urllib.request

from bot.cli.output import emit
from bot.cli.parser import CommandFailed
from bot.config import get_settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `healthcheck` command."""
    parser = commands.add_parser(
        "healthcheck", help="exit 0 when this process's dependencies are healthy (container health checks)")
    parser.add_argument("--url", help="the /healthz to ask (default: http://127.0.0.1:TORCHTUTOR_PORT/healthz)")
    parser.add_argument("--services", action="store_true",
                        help="check the database and the queue from here instead of asking a web server "
                             "(workers, which serve no HTTP)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait (default: 5)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check, print one line, exit 0 (healthy) or 1."""
    if args.services:
        return _services(args.timeout)
    url = args.url or f"http://127.0.0.1:{get_settings().port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            emit(f"healthy: {url}")
            return 0 if response.status == 200 else 1
    except urllib.error.HTTPError as exc:
        failing = _failing(exc.read())
        raise CommandFailed(f"unhealthy ({exc.code}): {', '.join(failing) or url}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CommandFailed(f"no answer from {url}: {reason}") from None


def _failing(body: bytes) -> list[str]:
    try:
        return [str(name) for name in json.loads(body).get("failing", [])]
    except (ValueError, AttributeError):
        return []


def _services(timeout: float) -> int:
    from bot.db.engine import Database
    from bot.health import QueueProbe, database_check, queue_check, run_checks

    settings = get_settings()
    database = Database.from_url(settings.database_url)
    checks = [database_check(database, timeout)]
    if settings.worker_backend == "celery":
        checks.append(queue_check(settings.queue_url, timeout))
    try:
        results = asyncio.run(run_checks(checks))
    finally:
        database.dispose()
        for check in checks:
            if isinstance(check.probe, QueueProbe):
                check.probe.close()
    bad = {name: reason for name, reason in results.items() if reason is not None}
    if bad:
        raise CommandFailed("unhealthy: " + "; ".join(f"{name}: {reason}" for name, reason in bad.items()))
    emit("healthy: " + ", ".join(results))
    return 0
