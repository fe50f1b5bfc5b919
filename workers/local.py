"""The embedded backend: a pool of warm worker processes on this machine.

Processes are started with `spawn` (never `fork`: a forked child of a process that touched CUDA cannot use the
GPU), each imports torch and creates its CUDA context once, and there is one process per GPU, pinned to it with
CUDA_VISIBLE_DEVICES. The database is the queue: a worker claims the oldest queued job with one compare-and-set,
so jobs survive a restart and a standalone `torchtutor worker --backend local` can serve the same database.
`submit()` only wakes an idle worker. A supervisor thread relays worker events to the in-process bus, enforces
hard time limits, replaces processes that die (failing their job with the reason), and reaps orphaned rows.
"""

from __future__ import annotations

import functools
import logging
import math
import multiprocessing
import os
import queue
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from bot.db.availability import is_unavailable
from bot.db.engine import LOCK_TIMEOUT_S, Database
from bot.db.journal import Journal
from workers.device import cpu_threads
from workers.events import EventBus, InProcessBus
from workers.jobs import FAILED, RESULT, TIMED_OUT, JobEvent, JobSpec
from workers.runner import PROGRESS_LOCK_TIMEOUT_S, RESULT_MARGIN_S
from workers.store import JobStore

log = logging.getLogger(__name__)

SPAWN = multiprocessing.get_context("spawn")
HARD_MARGIN_S = 2.0  # a job running this long past its time limit without stopping itself gets its process killed
CANCEL_GRACE_S = 2.0  # a cancelled job that does not stop by itself within this long gets its process killed
IDLE_POLL_S = 1.0  # idle workers also look for jobs queued by other processes this often
REAP_EVERY_S = 5.0
STOP_TIMEOUT_S = 5.0
JOB_FINISH_RECORD = "job_finish"


@dataclass
class _Slot:
    index: int
    gpu: str | None
    process: Any = None
    conn: Connection | None = None
    name: str = ""
    device: str = ""
    ready: bool = False
    woken: bool = False
    job_id: str | None = None
    time_limit_s: float = 0.0
    deadline: float = math.inf
    kill_at: float = math.inf
    respawn_at: float = math.inf
    failed_starts: int = 0
    jobs_done: int = 0


class LocalBackend:
    """A pool of spawned worker processes fed from the database; `bus` carries their events in this process."""

    name = "local"

    def __init__(self, database: Database, *, workers: int | None = None, gpus: Sequence[str] | None = None,
                 queues: Sequence[str] = (), demo_modules: Sequence[str] = (), bus: EventBus | None = None,
                 max_attempts: int = 3, hard_margin_s: float = HARD_MARGIN_S, reap_margin_s: float = 30.0,
                 queue_timeout_s: float = 600.0, idle_poll_s: float = IDLE_POLL_S,
                 lock_timeout_s: float = LOCK_TIMEOUT_S, journal: Journal | None = None) -> None:
        self.database = database
        self.store = JobStore(database)
        self.lock_timeout_s = lock_timeout_s
        # Final states this supervisor writes (timed out, worker died) outlive a busy database through it.
        self.journal = journal
        if journal is not None:
            journal.register(JOB_FINISH_RECORD, self._store_finish)
        self.bus: EventBus = bus or InProcessBus()
        self._workers, self._gpus = workers, gpus
        self.queues, self.demo_modules = tuple(queues), tuple(demo_modules)
        self.max_attempts, self.hard_margin_s = max_attempts, hard_margin_s
        self.reap_margin_s, self.queue_timeout_s, self.idle_poll_s = reap_margin_s, queue_timeout_s, idle_poll_s
        self._slots: list[_Slot] = []
        self._commands: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._changed = threading.Condition()
        self._next_reap = 0.0
        self._stop_timeout = STOP_TIMEOUT_S

    # --- the backend interface ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker processes (they warm up in the background) and the supervisor thread."""
        if self._thread is not None:
            return
        gpus = list(self._gpus) if self._gpus is not None else _visible_gpus()
        count = self._workers or len(gpus) or 1
        self._slots = [_Slot(index=i, gpu=gpus[i % len(gpus)] if gpus else None) for i in range(count)]
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._stopping = False
        for slot in self._slots:
            self._spawn(slot)
        self._thread = threading.Thread(target=self._supervise, name="torchtutor-local-pool", daemon=True)
        self._thread.start()
        log.info("local worker pool: %d process(es)%s", count, f" on GPUs {gpus}" if gpus else " on the CPU")

    def submit(self, spec: JobSpec) -> None:
        """The job row is committed and queued: wake an idle worker to claim it."""
        self._command("submit", spec.job_id)

    def cancel(self, job_id: str) -> None:
        """The row says cancelled: the demo stops at its next progress report, or its process is killed."""
        self._command("cancel", job_id)

    def stop(self, timeout: float | None = None) -> None:
        """Stop the workers: idle ones at once; a running job gets `timeout` (default STOP_TIMEOUT_S) seconds to
        finish, then its process is killed and the job failed with the reason (its result never half-written)."""
        if self._thread is None:
            return
        self._stop_timeout = STOP_TIMEOUT_S if timeout is None else max(0.0, timeout)
        self._command("stop", "")
        self._thread.join(self._stop_timeout + 10)
        self._thread = None
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Whether every worker process is warm within `timeout` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: all(s.ready for s in self._slots), timeout)

    def worker_counts(self) -> dict[str, int]:
        """{queue: live worker processes} for `torchtutor_workers` ("*" when the pool takes every queue)."""
        alive = sum(1 for s in self._slots if s.process is not None and s.process.is_alive())
        return {queue: alive for queue in (self.queues or ("*",))}

    @property
    def processes(self) -> list[tuple[str, int | None, str | None]]:
        """(worker name, pid, job id) of each worker process now."""
        return [(s.name, s.process.pid if s.process else None, s.job_id) for s in self._slots]

    # --- supervisor ----------------------------------------------------------------------------------------

    def _command(self, kind: str, job_id: str) -> None:
        if self._thread is None:
            return
        self._commands.put((kind, job_id))
        try:
            os.write(self._wake_w, b"!")
        except (BlockingIOError, OSError):  # a full pipe already means "wake up"
            pass

    def _spawn(self, slot: _Slot) -> None:
        parent_end, child_end = SPAWN.Pipe()
        process = SPAWN.Process(
            target=_worker_main, name=f"torchtutor-worker-{slot.index}", daemon=True,
            args=(child_end, slot.index, self.database.engine.url.render_as_string(hide_password=False), slot.gpu,
                  self.demo_modules, self.queues, self.max_attempts, self.idle_poll_s, cpu_threads(len(self._slots)),
                  self.lock_timeout_s))
        process.start()
        child_end.close()
        slot.process, slot.conn = process, parent_end
        slot.ready = slot.woken = False
        slot.name, slot.job_id, slot.respawn_at = "", None, math.inf
        slot.deadline = slot.kill_at = math.inf

    def _supervise(self) -> None:
        try:
            while not self._stopping:
                handles: dict[Any, tuple[str, _Slot | None]] = {self._wake_r: ("wake", None)}
                for each in self._slots:
                    if each.process is not None:
                        handles[each.conn] = ("message", each)
                        handles[each.process.sentinel] = ("exit", each)
                for handle in wait(list(handles), timeout=self._timeout()):
                    kind, slot = handles[handle]
                    if kind == "wake":
                        self._drain_commands()
                    elif kind == "message" and slot is not None and slot.process is not None:
                        self._receive(slot)
                    elif kind == "exit" and slot is not None and slot.process is not None:
                        self._on_exit(slot)
                self._check_clocks()
            self._shutdown()
        except Exception:
            log.exception("the local worker pool's supervisor failed")

    def _timeout(self) -> float:
        now = time.monotonic()
        moments = [self._next_reap] + [min(s.deadline, s.kill_at, s.respawn_at) for s in self._slots]
        return max(0.0, min(min(moments) - now, 1.0))

    def _drain_commands(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                kind, job_id = self._commands.get_nowait()
            except queue.Empty:
                return
            if kind == "submit":
                self._wake_idle()
            elif kind == "cancel":
                for slot in self._slots:
                    if slot.job_id == job_id:
                        slot.kill_at = time.monotonic() + CANCEL_GRACE_S
            elif kind == "stop":
                self._stopping = True

    def _wake_idle(self) -> None:
        for slot in self._slots:
            if slot.ready and slot.job_id is None and not slot.woken and slot.conn is not None:
                slot.woken = True
                self._send(slot, ("wake",))
                return

    def _send(self, slot: _Slot, message: tuple[Any, ...]) -> None:
        try:
            if slot.conn is not None:
                slot.conn.send(message)
        except OSError:  # it is dying; its sentinel will tell
            pass

    def _receive(self, slot: _Slot) -> None:
        try:
            while slot.conn is not None and slot.conn.poll():
                message = slot.conn.recv()
                self._on_message(slot, message)
        except (EOFError, OSError):
            pass

    def _on_message(self, slot: _Slot, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "event":
            self.bus.publish(JobEvent.from_dict(message[1]))
        elif kind == "busy":
            slot.job_id, slot.time_limit_s = message[1], float(message[2])
            slot.deadline = time.monotonic() + slot.time_limit_s + self.hard_margin_s
            slot.woken = False
        elif kind == "finishing" and slot.job_id == message[1]:
            # The demo is done and its result is being written (retried while the database is busy): let the
            # write run to the runner's own deadline rather than killing the process at the time limit.
            slot.deadline = time.monotonic() + slot.time_limit_s + RESULT_MARGIN_S + self.hard_margin_s
        elif kind == "idle":  # after a job, or after a wake-up that found nothing left to claim
            if slot.job_id is not None:
                slot.jobs_done += 1
            slot.job_id, slot.deadline, slot.kill_at, slot.woken = None, math.inf, math.inf, False
        elif kind == "ready":
            with self._changed:
                slot.name, slot.device, slot.ready, slot.failed_starts = message[1], message[2], True, 0
                self._changed.notify_all()

    def _check_clocks(self) -> None:
        now = time.monotonic()
        for slot in self._slots:
            if slot.process is None and now >= slot.respawn_at and not self._stopping:
                self._spawn(slot)
            elif slot.job_id is not None and now >= slot.deadline:
                self._finish(slot.job_id, TIMED_OUT, f"it ran longer than its {slot.time_limit_s:g} s time limit")
                log.warning("job %s overran its time limit; killing %s", slot.job_id, slot.name)
                self._kill(slot)
            elif slot.job_id is not None and now >= slot.kill_at:
                log.warning("cancelled job %s did not stop; killing %s", slot.job_id, slot.name)
                self._kill(slot)
        if now >= self._next_reap:
            self._next_reap = now + REAP_EVERY_S
            try:
                reaped = self.store.reap(margin_s=self.reap_margin_s, queue_timeout_s=self.queue_timeout_s,
                                         backend=self.name)
            except Exception:
                log.exception("reaping orphaned jobs failed")
                reaped = []
            for job_id in reaped:
                self.bus.publish(JobEvent(job_id, RESULT, FAILED))

    def _kill(self, slot: _Slot) -> None:
        slot.deadline = slot.kill_at = math.inf
        if slot.process is not None and slot.process.is_alive():
            slot.process.kill()

    def _on_exit(self, slot: _Slot) -> None:
        process = slot.process
        process.join(1)
        self._receive(slot)  # events it sent before dying
        reason = f"its worker process stopped unexpectedly ({_exit_reason(process.exitcode)})"
        if self._stopping:
            reason = "the worker pool shut down while it ran"
        if slot.job_id is not None:
            self._finish(slot.job_id, FAILED, reason)
        if slot.name:
            try:
                for job_id in self.store.fail_running_on(slot.name, reason):
                    self.bus.publish(JobEvent(job_id, RESULT, FAILED))
            except Exception as exc:  # the reaper fails them later; the supervisor must live on
                log.warning("could not fail the jobs of %s now (%s)", slot.name, type(exc).__name__)
        if slot.conn is not None:
            slot.conn.close()
        was_ready = slot.ready
        slot.process, slot.conn, slot.ready, slot.job_id = None, None, False, None
        slot.deadline = slot.kill_at = math.inf
        if self._stopping:
            return
        if was_ready or process.exitcode == 0:
            slot.respawn_at = time.monotonic()
        else:  # it died while starting: back off rather than spin
            slot.failed_starts += 1
            slot.respawn_at = time.monotonic() + min(30.0, 0.5 * 2 ** slot.failed_starts)
            log.error("worker process %d died while starting (%s); retrying", slot.index,
                      _exit_reason(process.exitcode))
        if process.exitcode not in (0, None) and was_ready:
            log.warning("worker %s died (%s); replacing it", slot.name, _exit_reason(process.exitcode))

    def _finish(self, job_id: str, status: str, error: str) -> None:
        record = {"job_id": job_id, "status": status, "error": error}
        try:
            if self.journal is not None:
                self.journal.write(JOB_FINISH_RECORD, record)
            else:
                self._store_finish(record)
        except Exception:
            log.exception("could not record that job %s %s", job_id, status)
        self.bus.publish(JobEvent(job_id, RESULT, status))

    def _store_finish(self, record: dict[str, Any]) -> None:
        """A final state (first one wins, so writing it again is harmless)."""
        self.store.finish(record["job_id"], record["status"], error=record["error"])

    def _shutdown(self) -> None:
        for slot in self._slots:
            self._send(slot, ("stop",))
        deadline = time.monotonic() + self._stop_timeout
        for slot in self._slots:
            process = slot.process
            if process is None:
                continue
            # A process still warming up has nothing to finish: stop it at once.
            process.join(max(0.0, deadline - time.monotonic()) if slot.ready else 0.2)
            if process.is_alive():
                process.kill()
                process.join(2)
            self._on_exit(slot)


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _visible_gpus() -> list[str]:
    from workers.device import visible_gpus

    return visible_gpus()


# --- the worker process ------------------------------------------------------------------------------------


class _PipePublisher:
    """Events go to the parent, which owns the subscribers."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def publish(self, event: JobEvent) -> None:
        try:
            self.conn.send(("event", event.to_dict()))
        except OSError:
            pass


def _claim_next(store: JobStore, name: str, device: str, queues: Sequence[str]) -> JobSpec | None:
    """The next job for this worker; None (look again later) while the database is busy or unreachable."""
    try:
        return store.claim_next(backend="local", worker=name, device=device, queues=queues)
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        log.warning("%s could not look for jobs (%s); trying again shortly", name, type(exc).__name__)
        return None


def _worker_main(conn: Connection, index: int, database_url: str, gpu: str | None, demo_modules: Sequence[str],
                 queues: Sequence[str], max_attempts: int, idle_poll_s: float, threads: int,
                 lock_timeout_s: float = LOCK_TIMEOUT_S) -> None:
    """A worker process: warm up once, then claim and run jobs until told to stop or the parent goes away."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu  # before torch is imported: this process sees one GPU
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent decides
    from workers.demos import load_demo_modules
    from workers.device import warm_up
    from workers.runner import run_claimed

    device = warm_up(threads)
    load_demo_modules(demo_modules)
    database = Database.from_url(database_url, lock_timeout_s=lock_timeout_s)
    progress = Database.from_url(database_url, lock_timeout_s=min(lock_timeout_s, PROGRESS_LOCK_TIMEOUT_S))
    store, publisher = JobStore(database, progress_database=progress), _PipePublisher(conn)
    name = f"local-{index}@{socket.gethostname()}:{os.getpid()}"
    conn.send(("ready", name, device))
    woken = False
    try:
        while True:
            spec = _claim_next(store, name, device, queues)
            if spec is not None:
                conn.send(("busy", spec.job_id, spec.time_limit_s))
                finishing = functools.partial(conn.send, ("finishing", spec.job_id))
                outcome = run_claimed(spec, store, publisher, max_attempts=max_attempts, on_result=finishing)
                conn.send(("idle", spec.job_id))
                if outcome.recycle:
                    break  # the parent starts a fresh process
                continue
            if woken:  # another worker got there first: be wakeable again
                conn.send(("idle", None))
            woken = False
            if conn.poll(idle_poll_s):
                message = conn.recv()
                if message[0] == "stop":
                    break
                woken = message[0] == "wake"
    except (EOFError, BrokenPipeError):  # the parent is gone
        pass
    finally:
        database.dispose()
        progress.dispose()
    # Skip the interpreter's teardown (torch's takes seconds): nothing is left to save, and stop() waits for us.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
