"""`torchtutor chat`: the terminal chat adapter."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cli.output import emit
from bot.config import get_settings

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession

    from bot.adapters.console import ConsoleChat, TerminalAdapter
    from bot.runtime import Runtime


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `chat` command."""
    parser = commands.add_parser("chat", help="chat with the bot in this terminal")
    parser.add_argument("--json", action="store_true", help="one JSON object per bot message or edit")
    parser.add_argument("--user", default=None, help="your user id (default: your login name)")
    parser.add_argument("--channel", default="terminal", help="channel id (default: terminal)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Chat until end of input."""
    from bot.adapters.console import ConsoleChat, TerminalAdapter
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
    terminal = not args.json and sys.stdin.isatty() and sys.stdout.isatty()
    history = settings.cache_dir.parent / "chat_history"
    with _replies_above_the_prompt() if terminal else contextlib.nullcontext():
        chat = ConsoleChat(runtime.tutor, person, args.channel, as_json=args.json, terminal=terminal,
                           image_dir=settings.cache_dir.parent / "images")
        if terminal:
            emit("torchtutor chat: type /help, /ask QUESTION, or a question; press a button by its number. "
                 "Up/Down for history, Ctrl-D to quit.")
        face = TerminalAdapter(chat, runtime.outbox, _reader(history if terminal else None))
        runtime.add_adapter(face)
        asyncio.run(_chat(runtime, face))
    runtime.close()
    return 0


def _replies_above_the_prompt() -> contextlib.AbstractContextManager[None]:
    """stdout through prompt_toolkit, so that replies arriving while a line is typed print above the prompt."""
    from prompt_toolkit.patch_stdout import patch_stdout

    return patch_stdout(raw=True)  # raw: rich's colours pass through


async def _chat(runtime: Runtime, face: TerminalAdapter) -> None:
    """The conversation: the runtime starts the terminal's face and the study scheduler beside it, and stops
    both once input ends (other terminals show their own channels)."""
    await runtime.start_faces()
    try:
        await face.ended.wait()
    finally:
        await runtime.stop_faces()


def _reader(history: Path | None) -> Callable[[ConsoleChat], Awaitable[None]]:
    """How lines are read: plain stdin for scripts, prompt_toolkit (editing, history) on a terminal."""
    from bot.adapters.console import run_console, run_terminal

    if history is None:
        return lambda chat: run_console(chat, sys.stdin.readline)
    session = _prompt_session(history)
    return lambda chat: run_terminal(chat, session)


def _prompt_session(history_file: Path) -> PromptSession[str]:
    """Line editing, with history kept across sessions in var/chat_history."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    history_file.parent.mkdir(parents=True, exist_ok=True)
    return PromptSession(history=FileHistory(str(history_file)))


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "console-user"
