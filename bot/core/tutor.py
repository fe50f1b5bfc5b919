"""The core facade: routes commands and button actions to use cases and turns errors into replies."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

from bot.core.commands import help_lines
from bot.core.conversation import Placement, Reply, Request
from bot.core.errors import TorchtutorError
from bot.db.availability import is_unavailable

log = logging.getLogger(__name__)

Handler = Callable[[Request], AsyncIterator[Reply] | Awaitable[Reply]]
ShownHandler = Callable[[Reply, Placement], Awaitable[None]]

UNAVAILABLE = "My database is busy or unreachable right now, so I couldn't do that. Try again in a minute."


class Tutor:
    """Dispatches a Request to the use case registered for its command or action prefix."""

    def __init__(self) -> None:
        self._commands: dict[str, Handler] = {"help": self._help}
        self._actions: dict[str, Handler] = {}
        self._text_handler: Handler | None = None
        self._shown: dict[str, ShownHandler] = {}
        self._help_notes: list[Callable[[], str]] = []

    def command(self, name: str, handler: Handler) -> None:
        """Register a slash command by name (without the slash)."""
        self._commands[name] = handler

    def action(self, prefix: str, handler: Handler) -> None:
        """Register the handler of button actions whose id starts with `prefix:`."""
        self._actions[prefix] = handler

    def free_text(self, handler: Handler) -> None:
        """Register the handler of free-text answers to a pending prompt."""
        self._text_handler = handler

    def help_note(self, note: Callable[[], str]) -> None:
        """Add a line to `/help`, computed when asked (say, the quiz topics there are now)."""
        self._help_notes.append(note)

    def on_shown(self, kind: str, handler: ShownHandler) -> None:
        """Register who must know where replies of this kind were posted (to edit them from another process)."""
        self._shown[kind] = handler

    async def shown(self, reply: Reply, placement: Placement) -> None:
        """An adapter posted `reply` publicly at `placement`; never raises (the reply is on screen either way)."""
        handler = self._shown.get(reply.kind)
        if handler is None:
            return
        try:
            await handler(reply, placement)
        except Exception:
            log.exception("could not record where %s reply %s was posted", reply.kind, reply.id)

    @property
    def command_names(self) -> list[str]:
        return sorted(self._commands)

    @property
    def accepts_free_text(self) -> bool:
        """Whether a free-text answer (command "") has a handler; adapters then route prompt replies to it."""
        return self._text_handler is not None

    async def handle(self, request: Request) -> AsyncIterator[Reply]:
        """Every reply to one request, in order; errors become friendly replies."""
        handler = self._route(request)
        try:
            result = handler(request)
            if isinstance(result, AsyncIterator):
                async for reply in result:
                    yield reply
            else:
                yield await result
        except TorchtutorError as exc:
            yield Reply(exc.user_message(), ephemeral=True, kind="error")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if is_unavailable(exc):
                log.warning("could not handle %s: the database is unavailable (%s)",
                            request.command or request.action, type(exc).__name__)
                yield Reply(UNAVAILABLE, ephemeral=True, kind="unavailable")
                return
            incident = uuid.uuid4().hex[:8]
            log.exception("unexpected error handling %s (incident %s)", request.command or request.action, incident)
            yield Reply(f"Sorry, something went wrong on my side (incident `{incident}`).", ephemeral=True,
                        kind="error")

    async def collect(self, request: Request) -> list[Reply]:
        """All replies to a request as a list (tests, HTTP)."""
        return [reply async for reply in self.handle(request)]

    def _route(self, request: Request) -> Handler:
        if request.action is not None:
            prefix = request.action.split(":", 1)[0]
            return self._actions.get(prefix, self._unknown_action)
        if request.command == "" and self._text_handler is not None:
            return self._text_handler
        return self._commands.get(request.command, self._unknown_command)

    async def _help(self, request: Request) -> Reply:
        lines = help_lines(self._commands)
        notes = await asyncio.to_thread(lambda: [note() for note in self._help_notes])
        text = "I teach PyTorch. Ask me anything about it, or try a live demo.\n\n" + "\n".join(lines + notes)
        return Reply(text, title="torchtutor", ephemeral=True, kind="help")

    async def _unknown_command(self, request: Request) -> Reply:
        name = request.command or "(none)"
        return Reply(f"I don't know the command `/{name}`. Try `/help`.", ephemeral=True, kind="error")

    async def _unknown_action(self, request: Request) -> Reply:
        return Reply("That button no longer does anything. Try the command again.", ephemeral=True, kind="error")
