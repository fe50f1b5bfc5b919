"""Micro-batching: concurrent callers' items processed together, so the model runs one batch instead of many.

A background thread takes the first waiting item, gathers whatever else arrives within `max_wait` seconds (up
to `max_batch` items), processes them in one call, and hands each caller its own result through a future.
While a batch runs, new requests queue up and form the next batch, so under load batches grow by themselves;
when idle, a lone request waits at most `max_wait` before it runs.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

import numpy as np

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

_STOP = object()


class MicroBatcher(Generic[T, R]):
    """Runs `process(items) -> results` (one result per item, same order) on batches of concurrent submissions."""

    def __init__(self, process: Callable[[list[T]], Sequence[R]], *, max_batch: int = 64, max_wait: float = 0.002,
                 name: str = "micro-batcher") -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._process = process
        self.max_batch = max_batch
        self.max_wait = max_wait
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._name = name
        self.batches = 0
        self.items = 0

    def submit(self, item: T) -> Future[R]:
        """Queue one item; the future resolves to its result (or the exception its batch raised)."""
        future: Future[R] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self._name} is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._queue.put((item, future))
        return future

    def __call__(self, item: T) -> R:
        """Process one item, batched with whatever other threads submit meanwhile; blocks until done."""
        return self.submit(item).result()

    def close(self) -> None:
        """Finish queued work and stop the thread; later submissions raise RuntimeError."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        self._queue.put(_STOP)
        if thread is not None:
            thread.join(timeout=30)

    @property
    def mean_batch(self) -> float:
        """Average items per batch so far."""
        return self.items / self.batches if self.batches else 0.0

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait
            while len(batch) < self.max_batch:
                try:
                    timeout = deadline - time.monotonic()
                    waiting = self._queue.get_nowait() if timeout <= 0 else self._queue.get(timeout=timeout)
                except queue.Empty:
                    break
                if waiting is _STOP:
                    stopping = True
                    break
                batch.append(waiting)
            self._run_batch(batch)  # type: ignore[arg-type]

    def _run_batch(self, batch: list[tuple[T, Future[R]]]) -> None:
        live = [(item, future) for item, future in batch if future.set_running_or_notify_cancel()]
        if not live:
            return
        self.batches += 1
        self.items += len(live)
        try:
            results = self._process([item for item, _ in live])
            if len(results) != len(live):
                raise RuntimeError(f"{self._name}: {len(results)} results for {len(live)} items")
        except BaseException as exc:  # every caller of the batch learns why it failed
            log.debug("%s: batch of %d failed: %s", self._name, len(live), exc)
            for _, future in live:
                future.set_exception(exc)
            return
        for (_, future), result in zip(live, results, strict=True):
            future.set_result(result)


class BatchingEncoder:
    """An encoder whose concurrent `encode` calls share model calls through a MicroBatcher (one text per item)."""

    def __init__(self, encoder, *, max_batch: int = 64, max_wait: float = 0.002) -> None:  # type: ignore[no-untyped-def]
        self.encoder = encoder
        self.dimension: int = encoder.dimension
        self.name: str = getattr(encoder, "name", "encoder")
        self.batcher: MicroBatcher[str, np.ndarray] = MicroBatcher(
            self._encode_rows, max_batch=max_batch, max_wait=max_wait, name="encode-batcher")

    def load(self) -> None:
        """Load the wrapped model now, if it loads lazily."""
        load = getattr(self.encoder, "load", None)
        if load is not None:
            load()

    def submit(self, text: str) -> Future[np.ndarray]:
        """The vector of one text, as a future."""
        return self.batcher.submit(text)

    def encode(self, texts: list[str]) -> np.ndarray:
        """One unit vector per text, shape (n, dimension); blocks until the batch that holds them has run."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        futures = [self.batcher.submit(text) for text in texts]
        return np.stack([future.result() for future in futures]).astype(np.float32, copy=False)

    def close(self) -> None:
        """Stop the batching thread."""
        self.batcher.close()

    def _encode_rows(self, texts: list[str]) -> list[np.ndarray]:
        return list(self.encoder.encode(texts))
