"""Live reindexing after an admin edit: one background thread rebuilds the index, coalescing saves made meanwhile."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Reindexer:
    """`request()` returns at once; the rebuild runs in a thread, and saves made during it cause one more run."""

    def __init__(self, reload: Callable[[], object]) -> None:
        self._reload = reload
        self._lock = threading.Lock()
        self._pending = False
        self._running = False
        self.last_error: str | None = None

    def request(self) -> None:
        """Rebuild soon (safe to call from any thread)."""
        with self._lock:
            self._pending = True
            if self._running:
                return
            self._running = True
        threading.Thread(target=self._loop, name="torchtutor-reindex", daemon=True).start()

    @property
    def busy(self) -> bool:
        """Whether a rebuild is running or about to."""
        with self._lock:
            return self._running

    def _loop(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._running = False
                    return
                self._pending = False
            try:
                self._reload()
                self.last_error = None
            except Exception as exc:  # the thread must survive to serve the next save
                log.exception("reindexing the knowledge base failed")
                self.last_error = f"{type(exc).__name__}: {exc}"
