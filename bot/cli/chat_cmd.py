"""`torchtutor chat`: the terminal chat adapter."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from bot.cli.output import emit
from bot.config import get_settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `chat` command."""
    parser = commands.add_parser("chat", help="chat with the bot in this terminal")
    parser.add_argument("--json", action="store_true", help="one JSON object per bot message or edit")
    parser.add_argument("--user", default=None, help="your user id (default: your login name)")
    parser.add_argument("--channel", default="terminal", help="channel id (default: terminal)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Chat until end of input."""
    from bot.adapters.console import PLATFORM, ConsoleChat
    from bot.core.conversation import Person
    from bot.runtime import build_runtime

    settings = get_settings()
    runtime = build_runtime(settings)
    runtime.require_schema()
    runtime.start_workers()  # the local pool warms up while the model loads
    runtime.start()
    user_id = args.user or _login()
    # The person at the terminal may do what a channel admin may (schedule study questions, turn /run on).
    person = Person(platform_id=user_id, name=user_id, can_manage_channel=True)
    chat = ConsoleChat(runtime.tutor, person, args.channel, as_json=args.json,
                       image_dir=settings.cache_dir.parent / "images")
    if not args.json and sys.stdin.isatty():
        emit("torchtutor chat: type /help, /ask QUESTION, or a question. Ctrl-D to quit.")
    runtime.outbox.register(PLATFORM, chat, channels=[args.channel])  # other terminals show their own channels
    asyncio.run(_chat(runtime, chat))
    runtime.close()
    return 0


async def _chat(runtime, chat) -> None:  # type: ignore[no-untyped-def]
    """The conversation, with the study scheduler running beside it for this terminal's channels."""
    from bot.adapters.console import run_console

    loop = runtime.quizzes.loop if runtime.quizzes is not None else None
    if loop is not None:
        loop.start()
    try:
        await run_console(chat, sys.stdin.readline)
    finally:
        if loop is not None:
            await loop.stop()


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "console-user"
