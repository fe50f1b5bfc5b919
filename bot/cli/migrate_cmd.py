"""`torchtutor migrate`: bring the configured database to the newest schema."""

from __future__ import annotations

import argparse

from bot.cli.output import emit
from bot.cli.parser import CommandFailed
from bot.config import get_settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `migrate` command."""
    parser = commands.add_parser("migrate", help="apply database migrations (alembic upgrade head)")
    parser.add_argument("--revision", default="head", help="target revision (default: head)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Upgrade the database."""
    from sqlalchemy.exc import OperationalError

    from bot.db.migrate import upgrade

    settings = get_settings()
    try:
        upgrade(settings.database_url, args.revision)
    except OperationalError as exc:
        raise CommandFailed(f"cannot migrate TORCHTUTOR_DATABASE_URL: {_first_line(exc)}") from None
    emit(f"database is at {args.revision}")
    return 0


def _first_line(exc: Exception) -> str:
    return str(getattr(exc, "orig", exc)).strip().splitlines()[0]
