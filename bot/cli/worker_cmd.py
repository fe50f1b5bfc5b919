"""`torchtutor worker`: demo workers, as a local process pool or as a Celery worker on Redis."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading

from bot.cli.output import emit
from bot.cli.parser import CommandFailed, UsageError
from bot.config import Settings, get_settings

log = logging.getLogger(__name__)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `worker` command."""
    parser = commands.add_parser("worker", help="run demo workers (local process pool or Celery on Redis)")
    parser.add_argument("--backend", choices=["local", "celery"], default=None,
                        help="default: TORCHTUTOR_WORKER_BACKEND (local)")
    parser.add_argument("--queues", default="gpu,cpu", help="queues to take jobs from (default: gpu,cpu)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="worker processes (default: one per GPU, else TORCHTUTOR_LOCAL_WORKERS for local "
                             "and the CPU count, at most 4, for celery)")
    parser.add_argument("--pool", choices=["prefork", "solo"], default="prefork",
                        help="celery only: prefork (default; CUDA only in its children) or solo")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run workers in the foreground until interrupted."""
    from workers.jobs import QUEUES

    settings = get_settings()
    queues = [name.strip() for name in args.queues.split(",") if name.strip()]
    unknown = [name for name in queues if name not in QUEUES]
    if not queues or unknown:
        raise UsageError(f"--queues takes a comma-separated subset of {','.join(QUEUES)}, got {args.queues!r}")
    if args.concurrency is not None and args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    _require_schema(settings)
    if (args.backend or settings.worker_backend) == "celery":
        return _celery(settings, queues, args.concurrency, args.pool, args.verbose)
    return _local(settings, queues, args.concurrency)


def _require_schema(settings: Settings) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from bot.db.engine import make_engine
    from bot.db.migrate import is_up_to_date

    engine = make_engine(settings.database_url)
    try:
        ready = is_up_to_date(engine)
    except SQLAlchemyError as exc:
        raise CommandFailed(f"cannot open the database: {str(getattr(exc, 'orig', exc)).splitlines()[0]}") from None
    finally:
        engine.dispose()
    if not ready:
        raise CommandFailed("the database is not migrated yet: run `torchtutor migrate` first")


def _celery(settings: Settings, queues: list[str], concurrency: int | None, pool: str, verbose: bool) -> int:
    from workers.celery_app import app_from_settings
    from workers.device import visible_gpus

    if concurrency is None:
        gpus = visible_gpus() if "gpu" in queues else []  # NVML: this process stays safe to fork
        concurrency = len(gpus) or min(os.cpu_count() or 1, 4)
    app = app_from_settings(settings)
    # Event heartbeats stay on (every 2 s): Flower shows a worker without them as offline, and an event
    # listener that subscribes after the one heartbeat a wake-up asks for would otherwise never see the worker.
    argv = ["worker", f"--queues={','.join(queues)}", f"--pool={pool}", f"--concurrency={concurrency}",
            f"--loglevel={'INFO' if verbose else 'WARNING'}", "--without-gossip", "--without-mingle",
            f"--hostname=torchtutor-{os.getpid()}@%h"]
    app.worker_main(argv)
    return 0


def _local(settings: Settings, queues: list[str], concurrency: int | None) -> int:
    from bot.db.engine import Database
    from bot.runtime import make_journal
    from workers.local import LocalBackend

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    database = Database.from_url(settings.database_url, lock_timeout_s=settings.database_lock_timeout_s)
    journal = make_journal(settings, database)
    backend = LocalBackend(database, workers=concurrency, queues=queues,
                           demo_modules=settings.demo_module_names(), max_attempts=settings.job_max_attempts,
                           reap_margin_s=settings.job_reap_margin_s, queue_timeout_s=settings.job_queue_timeout_s,
                           lock_timeout_s=settings.database_lock_timeout_s, journal=journal)
    journal.start()
    backend.start()
    emit(f"torchtutor: local worker pool serving queues {','.join(queues)}; Ctrl-C to stop")
    while not stop.wait(1.0):
        pass
    backend.stop()
    journal.close()
    database.dispose()
    return 0
