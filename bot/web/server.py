"""uvicorn, stopped gracefully: the first SIGTERM or SIGINT drains the runtime at once, and the process exits 0."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Iterator
from types import FrameType

import uvicorn

from bot.runtime import Runtime

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class GracefulServer(uvicorn.Server):
    """uvicorn's server, plus two things for orderly restarts.

    * On the first signal the runtime's shutdown begins at once (`runtime.draining`, then its hooks), so chat
      adapters and workers stop taking work while uvicorn stops listening and lets open requests finish
      (at most `timeout_graceful_shutdown` seconds). The app's lifespan then waits for the hooks and closes.
    * uvicorn re-raises the signal after a graceful stop, so the process would die of SIGTERM (status 143);
      here a graceful stop is a clean exit (status 0). A second SIGINT still forces an immediate exit.
    """

    def __init__(self, config: uvicorn.Config, runtime: Runtime) -> None:
        super().__init__(config)
        self.runtime = runtime
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit and self._loop is not None:
            self._loop.call_soon_threadsafe(self.runtime.begin_shutdown, signal.Signals(sig).name)
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        originals = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in originals.items():
                signal.signal(sig, handler)
