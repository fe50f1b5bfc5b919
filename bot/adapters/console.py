"""The terminal adapter, and the reference for every platform: a line in, neutral replies out as JSON.

For a person at a terminal (`terminal=True`) the same replies are shown with rich (markdown rendered, buttons
numbered so that typing `2` presses the second), and lines are read with prompt_toolkit (line editing, history).
Scripts (`--json`, or stdin not a terminal) get the plain behaviour, unchanged.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.core.conversation import Person, Reply, Request
from bot.core.outbox import Outbox
from bot.core.tutor import Tutor

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession

PLATFORM = "console"
DIRECT_CHANNEL = "terminal"
DRAIN_TIMEOUT_S = 120.0


def parse_line(line: str, base: Request) -> Request | None:
    """A request for one input line, or None for a blank line."""
    line = line.strip()
    if not line:
        return None
    if line.startswith("!click"):
        return Request(**{**base.__dict__, "action": line[len("!click"):].strip()})
    if line.startswith("!answer"):
        return base.with_command("", line[len("!answer"):].strip())
    if line.startswith("/"):
        name, _, rest = line[1:].partition(" ")
        return base.with_command(name.lower(), rest.strip())
    return base.with_command("ask", line)


def render_text(reply: Reply) -> str:
    """A reply's title, body, extra fields and citation as one markdown text."""
    parts = [f"**{reply.title}**"] if reply.title else []
    parts.append(reply.text)
    parts += [f"**{name}:** {value}" for name, value in reply.fields]
    if reply.citation:
        parts.append(f"_Source: {reply.citation}_")
    if reply.docs:
        parts.append("Docs: " + ", ".join(f"[{label}]({url})" for label, url in reply.docs))
    return "\n\n".join(p for p in parts if p)


@dataclass
class ConsoleChat:
    """Runs requests concurrently and writes each reply (or edit) as it arrives."""

    tutor: Tutor
    user: Person
    channel_id: str
    as_json: bool = True
    out: TextIO = field(default_factory=lambda: sys.stdout)
    image_dir: Path = Path("var/images")
    buttons_seen: set[str] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _turn: asyncio.Future[None] | None = None  # done once the previous line has its first reply (or is over)
    terminal: bool = False  # a person at a TTY: rendered markdown, numbered buttons
    numbered: list[str] = field(default_factory=list)  # the ids of the buttons last shown, numbered from 1

    def base_request(self) -> Request:
        """The request every line starts from."""
        # The default channel is a conversation with the bot; a named one (--channel) acts as a shared channel,
        # where a study schedule turns /quiz into a team round.
        return Request(platform=PLATFORM, user=self.user, channel_id=self.channel_id, channel_name=self.channel_id,
                       is_direct=self.channel_id == DIRECT_CHANNEL)

    async def feed(self, line: str) -> None:
        """Start handling one input line, after the lines before it have been answered.

        Lines are answered in the order typed: each waits until the one before has its first reply (or has
        ended), so `/study status` typed right after `/study start` sees the schedule. What follows a first
        reply (a demo's progress edits) still runs alongside the next lines.
        """
        request = parse_line(self.press_by_number(line), self.base_request())
        if request is None:
            return
        previous, turn = self._turn, asyncio.get_running_loop().create_future()
        self._turn = turn
        task = asyncio.create_task(self._run(request, previous, turn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def press_by_number(self, line: str) -> str:
        """On a terminal, `2` (or `!click 2`) presses the second button last shown; any other line is kept."""
        number = line.strip().removeprefix("!click").strip()
        if self.terminal and number.isdigit() and 1 <= int(number) <= len(self.numbered):
            return f"!click {self.numbered[int(number) - 1]}"
        return line

    async def drain(self, timeout: float = DRAIN_TIMEOUT_S) -> None:
        """Wait for pending jobs' final messages, up to a limit."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def _run(self, request: Request, previous: asyncio.Future[None] | None, turn: asyncio.Future[None]) -> None:
        try:
            if previous is not None:
                await asyncio.shield(previous)
            if request.action is not None and request.action not in self.buttons_seen:
                await self.write(Reply(f"There is no button `{request.action}` on screen.", ephemeral=True))
                return
            async for reply in self.tutor.handle(request):
                await self.write(reply)
                if not turn.done():
                    turn.set_result(None)
        finally:
            if not turn.done():
                turn.set_result(None)

    async def post(self, platform: str, workspace_id: str, channel_id: str, reply: Reply) -> None:
        """The console's channel poster (see bot.core.outbox): scheduled questions and round results of this
        terminal's channel print like any other message (register it with `channels=[channel_id]`)."""
        if channel_id != self.channel_id:
            raise ValueError(f"this terminal shows channel {self.channel_id}, not {channel_id}")
        await self.write(reply)

    async def write(self, reply: Reply) -> None:
        """Print one reply as JSON (contract shape) or text."""
        async with self._write_lock:
            self.buttons_seen.update(b.id for b in reply.buttons)
            message = self.to_json(reply)
            if self.terminal:
                self._show(message)
            else:
                self.out.write((json.dumps(message, ensure_ascii=False) if self.as_json else _human(message)) + "\n")
            self.out.flush()

    def _show(self, message: dict[str, Any]) -> None:
        from rich.console import Console

        if message["buttons"]:
            self.numbered = [b["id"] for b in message["buttons"]]
        Console(file=self.out, highlight=False).print(rendered(message))

    def to_json(self, reply: Reply) -> dict[str, Any]:
        """The contract's `chat --json` object for a reply."""
        return {
            "message_id": reply.edits or reply.id,
            "edit": reply.edits is not None,
            "text": render_text(reply),
            "buttons": [{"id": b.id, "label": b.label} for b in reply.buttons],
            "images": self._save_images(reply),
            "ephemeral": reply.ephemeral,
        }

    def _save_images(self, reply: Reply) -> list[str]:
        if not reply.images:
            return []
        self.image_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for n, image in enumerate(reply.images):
            path = self.image_dir / f"{reply.id}-{n}-{image.filename}"
            path.write_bytes(image.data)
            paths.append(str(path.resolve()))
        return paths


def _human(message: dict[str, Any]) -> str:
    lines = [("(edited) " if message["edit"] else "") + message["text"]]
    lines += [f"  [{b['id']}] {b['label']}" for b in message["buttons"]]
    lines += [f"  image: {p}" for p in message["images"]]
    return "\n".join(lines) + "\n"


def rendered(message: dict[str, Any]) -> Any:
    """A chat message for rich: its markdown rendered, then its buttons by number and its images' paths."""
    from rich.console import Group
    from rich.markdown import Markdown
    from rich.text import Text

    parts: list[Any] = [Text("(edited)", style="dim")] if message["edit"] else []
    parts.append(Markdown(message["text"], hyperlinks=False))  # the address shown, whatever the terminal
    for number, button in enumerate(message["buttons"], start=1):
        line = Text.assemble((f"  [{number}] ", "bold cyan"), button["label"] or button["id"])
        parts.append(line.append(f"  ({button['id']})", style="dim"))
    parts += [Text(f"  image: {path}", style="dim") for path in message["images"]]
    return Group(*parts, Text(""))


async def run_console(chat: ConsoleChat, read_line: Callable[[], str]) -> None:
    """Feed stdin lines until end of input, then wait for pending jobs."""
    while True:
        line = await asyncio.to_thread(read_line)
        if line == "":
            break
        await chat.feed(line)
    await chat.drain()


async def run_terminal(chat: ConsoleChat, session: PromptSession[str], prompt: str = "you> ") -> None:
    """Read lines with prompt_toolkit (editing, history) until Ctrl-D, then wait for pending jobs.

    Ctrl-C drops the line being typed. Replies print above the prompt when the caller patches stdout
    (prompt_toolkit's `patch_stdout`).
    """
    while True:
        try:
            line = await session.prompt_async(prompt)
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        await chat.feed(line)
    await chat.drain()


@dataclass
class TerminalAdapter:
    """The terminal as an `Adapter` (bot.core.adapter) the runtime starts and stops like Discord and Slack:
    it posts to its own channel only, reads lines until end of input, then waits for pending jobs."""

    chat: ConsoleChat
    outbox: Outbox
    read: Callable[[ConsoleChat], Awaitable[None]]  # run_console or run_terminal, bound to their input
    platform: str = PLATFORM
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        self.outbox.register(self.platform, self.chat, channels=[self.chat.channel_id])
        try:
            await self.read(self.chat)
        finally:
            self.outbox.unregister(self.platform)
            self.ended.set()
