"""A bounded, durable buffer for records the database could not take right now.

When a write fails because the database is locked or unreachable (bot.db.availability), the record is appended to
this process's journal file (one JSON line, fsynced) and a background flusher retries it with backoff, oldest
first, until it lands. Every record carries an id made by the client, and every apply function is an idempotent
upsert keyed on it, so a record replayed twice (a crash after the commit, a file replayed by the next process)
lands once. While older records wait, new ones queue behind them rather than racing ahead.

Each process writes its own file and holds an exclusive `flock` on it; a file whose lock can be taken belongs to
a process that is gone, and is adopted: replayed, then deleted. That happens at start and on every flush, so a
crash loses nothing that was fsynced.

Bounds: at most `max_records` records wait, and none for longer than `window_s` seconds. A record past either is
dropped, logged and counted (`on_lost(kind, reason)`), never silently.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bot.db.availability import is_unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

Apply = Callable[[dict[str, Any]], None]
"""Writes one record's data to the database in its own transaction; must be idempotent."""
LostHook = Callable[[str, str], None]
"""Told (kind, reason) for each record given up: "full" (past max_records), "expired" (past window_s),
"refused" (the database rejected it for good)."""


@dataclass(frozen=True)
class JournalSettings:
    """Bounds and pacing of the retry buffer (TORCHTUTOR_DB_RETRY_*)."""

    first_retry_s: float = 0.5
    max_retry_s: float = 5.0
    window_s: float = 300.0
    max_records: int = 10_000


@dataclass
class _Record:
    id: str
    kind: str
    at: float
    data: dict[str, Any]

    def line(self) -> bytes:
        return (json.dumps({"id": self.id, "kind": self.kind, "at": self.at, "data": self.data},
                           ensure_ascii=False, separators=(",", ":")) + "\n").encode()


class Journal:
    """Records of registered kinds: written now when the database takes them, else kept and retried."""

    def __init__(self, directory: Path, settings: JournalSettings | None = None, *,
                 on_lost: LostHook | None = None, clock: Callable[[], float] = time.time) -> None:
        self.directory = Path(directory)
        self.settings = settings or JournalSettings()
        self.on_lost = on_lost
        self.clock = clock
        self._apply: dict[str, Apply] = {}
        self._pending: list[_Record] = []
        self._lock = threading.RLock()  # pending list and file
        self._flushing = threading.Lock()  # one flush at a time, in order
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._file: Any = None
        self._thread: threading.Thread | None = None
        self.lost = 0

    def register(self, kind: str, apply: Apply) -> None:
        """How to write records of `kind` (before `start`, so adopted files find their apply function)."""
        self._apply[kind] = apply

    @property
    def pending(self) -> int:
        """Records waiting for the database."""
        with self._lock:
            return len(self._pending)

    # --- writing ------------------------------------------------------------------------------------------

    def write(self, kind: str, data: dict[str, Any]) -> bool:
        """Write the record now if the database takes it (and nothing older waits), else keep it for later.

        True when it landed now. A refusal other than "busy or unreachable" is raised to the caller.
        """
        return self.write_batch(kind, [data], lambda items: [self._apply[kind](items[0])]) is not None

    def write_batch(self, kind: str, items: list[dict[str, Any]],
                    apply_many: Callable[[list[dict[str, Any]]], Sequence[T]]) -> Sequence[T] | None:
        """`apply_many(items)` now, in one transaction, if nothing older waits; else (or when the database is
        unavailable) keep each item as a record of `kind` and return None."""
        if kind not in self._apply:
            raise KeyError(f"no apply function for journal records of kind {kind!r}")
        if not self.pending:
            try:
                return apply_many(items)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                log.warning("the database is unavailable (%s); keeping %d %s record(s) to retry",
                            _one_line(exc), len(items), kind)
        for item in items:
            self.keep(kind, item)
        return None

    def keep(self, kind: str, data: dict[str, Any]) -> None:
        """Append a record to the journal (fsynced) for the flusher to write."""
        record = _Record(uuid.uuid4().hex, kind, self.clock(), data)
        with self._lock:
            if len(self._pending) >= self.settings.max_records:
                self._give_up(record, "full")
                return
            self._append([record])
            self._pending.append(record)
            first = len(self._pending) == 1
        self._ensure_flusher()
        if first:  # later ones wait for the flusher's backoff rather than cutting it short
            self._wake.set()

    # --- flushing -----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Adopt files left by processes that are gone and start the flusher."""
        self._adopt_orphans()
        self._ensure_flusher()
        self._wake.set()

    def flush(self) -> bool:
        """Write waiting records, oldest first, until one fails; True when none is left waiting."""
        with self._flushing:
            self._adopt_orphans()
            while True:
                with self._lock:
                    if not self._pending:
                        self._truncate()
                        return True
                    record = self._pending[0]
                if self.clock() - record.at > self.settings.window_s:
                    self._drop_head(record, "expired")
                    continue
                apply = self._apply.get(record.kind)
                try:
                    if apply is None:
                        raise LookupError(f"no apply function for {record.kind!r}")
                    apply(record.data)
                except Exception as exc:
                    if is_unavailable(exc):
                        return False
                    log.error("the database refused a kept %s record (%s); dropping it", record.kind,
                              _one_line(exc))
                    self._drop_head(record, "refused")
                    continue
                with self._lock:
                    self._pending.pop(0)

    def close(self, timeout: float = 2.0) -> None:
        """Stop the flusher after one last try; records still waiting stay in the file for the next process."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        try:
            self.flush()
        except Exception:
            log.exception("the last flush of the journal failed")
        with self._lock:
            if self._file is not None:
                path = Path(self._file.name)
                self._file.close()  # releases the lock: the next process adopts what is left
                self._file = None
                if not self._pending:
                    path.unlink(missing_ok=True)

    def _ensure_flusher(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="torchtutor-journal", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            delay = self.settings.first_retry_s * 2 ** (failures - 1) if failures else self.settings.max_retry_s
            self._wake.wait(min(delay, self.settings.max_retry_s))
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                done = self.flush()
            except Exception:
                log.exception("flushing the journal failed")
                done = False
            failures = 0 if done else min(failures + 1, 30)

    # --- the file -----------------------------------------------------------------------------------------

    def _own_file(self) -> Any:
        if self._file is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
            handle = open(self.directory / name, "ab+")  # noqa: SIM115  (kept open: it holds the lock)
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._file = handle
        return self._file

    def _append(self, records: list[_Record]) -> None:
        handle = self._own_file()
        handle.write(b"".join(r.line() for r in records))
        handle.flush()
        os.fsync(handle.fileno())

    def _truncate(self) -> None:
        if self._file is not None and self._file.tell() > 0:
            self._file.truncate(0)
            self._file.seek(0)
            os.fsync(self._file.fileno())

    def _drop_head(self, record: _Record, reason: str) -> None:
        with self._lock:
            if self._pending and self._pending[0] is record:
                self._pending.pop(0)
        self._give_up(record, reason)

    def _give_up(self, record: _Record, reason: str) -> None:
        self.lost += 1
        log.error("lost a %s record (%s): %s", record.kind, reason,
                  json.dumps(record.data, ensure_ascii=True, default=str)[:500])
        if self.on_lost is not None:
            try:
                self.on_lost(record.kind, reason)
            except Exception:
                log.exception("counting a lost record failed")

    def _orphan_paths(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        own = Path(self._file.name).name if self._file is not None else None
        return sorted(p for p in self.directory.glob("*.jsonl") if p.name != own)

    def _adopt_orphans(self) -> None:
        """Move the records of files whose process is gone (their lock is free) into this journal."""
        for path in self._orphan_paths():
            try:
                handle = open(path, "rb")  # noqa: SIM115
            except FileNotFoundError:
                continue
            with handle:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its process is alive and flushes it itself
                records = _read_records(path, handle.read())
                if any(r.kind not in self._apply for r in records):
                    continue  # written by another kind of process (a worker, a web server): left for one of those
                if records:
                    with self._lock:
                        self._append(records)
                        self._pending.extend(records)
                    log.info("adopted %d kept record(s) from %s", len(records), path.name)
                path.unlink(missing_ok=True)


def _read_records(path: Path, raw: bytes) -> list[_Record]:
    records = []
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            records.append(_Record(str(item["id"]), str(item["kind"]), float(item["at"]), dict(item["data"])))
        except (ValueError, KeyError, TypeError):
            # A torn last line (the process died mid-write) was never acknowledged as kept; say so and move on.
            log.warning("skipping an unreadable line %d in journal file %s", number, path.name)
    return records


def _one_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error)
    return (text.splitlines() or [type(error).__name__])[0][:200]
