"""Demo job latency and throughput on both backends, with 1, 2 and 4 warm workers.

    .venv/bin/python benchmarks/jobs.py [--backends local,celery] [--workers 1,2,4] [--jobs 30] [--burst 40]

For each backend and worker count: submit-to-start and submit-to-first-progress latency of one small job at a
time (p50, p99: from `backend.submit()` to the subscriber receiving the worker's `running` event, and its first
progress event), then throughput: `--burst` small jobs submitted at once, jobs finished per second.
The job rows are committed before the clock starts, as `start_demo` does. Celery needs Redis (a free database
number 1-15 is claimed and flushed afterwards, or pass --redis URL); the database is a temporary SQLite file
unless --database gives one. Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import func, select  # noqa: E402

from bot.db.engine import Database  # noqa: E402
from bot.db.job_models import Job  # noqa: E402
from bot.db.migrate import upgrade  # noqa: E402
from workers.demos import get_demo, validate_params  # noqa: E402
from workers.jobs import PROGRESS, RESULT, STATE, TERMINAL, JobSpec  # noqa: E402
from workers.store import JobStore, new_job_id  # noqa: E402


def new_job(store: JobStore, backend: str, demo_name: str, params: dict[str, Any],
            job_id: str | None = None) -> JobSpec:
    demo = get_demo(demo_name)
    with store.database.transaction() as session:
        job_id = store.insert(session=session, demo=demo.name, params=params, queue=demo.queue, backend=backend,
                              time_limit_s=demo.time_limit_s, platform="bench", user_id=None, channel_id=None,
                              job_id=job_id)
    return JobSpec(job_id, demo.name, params, demo.time_limit_s, demo.queue)


async def one_job(backend: Any, store: JobStore, name: str, demo: str,
                  params: dict[str, Any]) -> tuple[float, float]:
    """(submit-to-start, submit-to-first-progress) in ms for one job, waiting for its result."""
    start = progress = None
    job_id = new_job_id()
    async with backend.bus.listen(job_id) as inbox:
        # The row is committed after subscribing: an idle local worker polling the queue may find it at once.
        spec = await asyncio.to_thread(new_job, store, name, demo, params, job_id)
        t0 = time.perf_counter()
        await asyncio.to_thread(backend.submit, spec)
        while True:
            event = await inbox.next(60)
            if event is None:
                raise RuntimeError(f"no event from job {spec.job_id} for 60 s")
            now = (time.perf_counter() - t0) * 1e3
            if event.kind == STATE and start is None:
                start = now
            elif event.kind == PROGRESS and progress is None:
                progress = now
            elif event.kind == RESULT:
                if event.status != "succeeded":
                    raise RuntimeError(f"job {spec.job_id} ended {event.status}")
                return start or now, progress or now


def latency(backend: Any, store: JobStore, name: str, jobs: int, demo: str, params: dict[str, Any]) -> dict[str, Any]:
    samples = [asyncio.run(one_job(backend, store, name, demo, params)) for _ in range(jobs + 3)]
    starts, firsts = [s for s, _ in samples[3:]], [f for _, f in samples[3:]]  # the first few warm the path up
    return {"start": percentiles(starts), "progress": percentiles(firsts)}


def throughput(backend: Any, store: JobStore, name: str, burst: int, demo: str, params: dict[str, Any]) -> float:
    specs = [new_job(store, name, demo, params) for _ in range(burst)]
    ids = {spec.job_id for spec in specs}
    t0 = time.perf_counter()
    for spec in specs:
        backend.submit(spec)
    finished = select(func.count()).select_from(Job).where(Job.id.in_(ids), Job.status.in_(TERMINAL))
    while True:
        with store.database.session() as session:  # one cheap query: polling must not steal the workers' CPU
            done = session.scalar(finished)
        if done == len(ids):
            return len(ids) / (time.perf_counter() - t0)
        time.sleep(0.02)


def percentiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return statistics.median(values), cuts[98]


@contextmanager
def local_backend(database: Database, workers: int) -> Iterator[Any]:
    from workers.local import LocalBackend

    backend = LocalBackend(database, workers=workers, gpus=[])
    backend.start()
    if not backend.wait_ready(300):
        raise RuntimeError("local workers did not warm up")
    try:
        yield backend
    finally:
        backend.stop()


@contextmanager
def celery_backend(database: Database, workers: int, redis_url: str, log: Path) -> Iterator[Any]:
    from workers.celery_app import CeleryBackend

    url = database.engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TORCHTUTOR_DATABASE_URL": url, "TORCHTUTOR_QUEUE_URL": redis_url}
    with log.open("wb") as out:
        worker = subprocess.Popen([sys.executable, "-m", "bot.cli.main", "-v", "worker", "--backend", "celery",
                                   "--concurrency", str(workers)], env=env, stdout=out, stderr=subprocess.STDOUT)
    backend = CeleryBackend(database, broker_url=redis_url)
    try:
        deadline = time.monotonic() + 300
        while log.read_text(errors="replace").count(" ready on ") < workers:
            if worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield backend
    finally:
        backend.stop()
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()


@contextmanager
def redis_database(given: str | None) -> Iterator[str]:
    """The given Redis URL, or a free database number on the local server, flushed afterwards."""
    if given:
        yield given
        return
    import redis

    for number in range(15, 0, -1):
        url = f"redis://127.0.0.1:6379/{number}"
        client = redis.Redis.from_url(url)
        if client.dbsize() == 0 and client.set("torchtutor:bench-claim", uuid.uuid4().hex, nx=True, ex=3600):
            try:
                yield url
            finally:
                client.flushdb()
                client.close()
            return
        client.close()
    raise RuntimeError("no free Redis database; pass --redis URL")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="local,celery")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--jobs", type=int, default=30, help="sequential jobs for latency (default 30)")
    parser.add_argument("--burst", type=int, default=40, help="jobs submitted at once for throughput (default 40)")
    parser.add_argument("--demo", default="backward-pass")
    parser.add_argument("--database", help="SQLAlchemy URL (default: a temporary SQLite file)")
    parser.add_argument("--redis", help="Redis URL for Celery (default: a free database on 127.0.0.1:6379)")
    args = parser.parse_args()
    params = validate_params(get_demo(args.demo), {})
    folder = Path(tempfile.mkdtemp(prefix="tt-bench-"))
    url = args.database or f"sqlite:///{folder}/bench.db"
    upgrade(url)
    database = Database.from_url(url)
    store = JobStore(database)
    print(f"demo {args.demo}; {os.cpu_count()} CPU cores; load average {os.getloadavg()[0]:.1f}; "
          f"database {database.engine.url.get_backend_name()}")
    print(f"{'backend':8} {'workers':>7}  {'submit->start ms':>18}  {'submit->1st progress ms':>24}  {'jobs/s':>7}")
    print(f"{'':8} {'':>7}  {'p50':>8} {'p99':>9}  {'p50':>11} {'p99':>12}  {'':>7}")
    for name in args.backends.split(","):
        for workers in [int(n) for n in args.workers.split(",")]:
            if name == "local":
                context = local_backend(database, workers)
            else:
                context = celery_backend_in(database, workers, args.redis, folder / f"celery-{workers}.log")
            with context as backend:
                lat = latency(backend, store, name, args.jobs, args.demo, params)
                rate = throughput(backend, store, name, args.burst, args.demo, params)
            print(f"{name:8} {workers:>7}  {lat['start'][0]:>8.1f} {lat['start'][1]:>9.1f}  "
                  f"{lat['progress'][0]:>11.1f} {lat['progress'][1]:>12.1f}  {rate:>7.1f}", flush=True)
    database.dispose()


@contextmanager
def celery_backend_in(database: Database, workers: int, redis_url: str | None, log: Path) -> Iterator[Any]:
    with redis_database(redis_url) as url, celery_backend(database, workers, url, log) as backend:
        yield backend


if __name__ == "__main__":  # the local pool spawns processes that import this module: keep work behind this
    main()
