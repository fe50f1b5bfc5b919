"""Job rows through their life: every move is one compare-and-set, so states only go forward and the first
terminal state wins (a re-delivered job cannot post a second result)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from bot.db.base import count_if, rowcount, utcnow
from bot.db.engine import Database
from bot.db.job_models import Job, JobImage
from bot.db.models import Channel, User
from workers.jobs import (
    ACTIVE,
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    TERMINAL,
    JobResult,
    JobSnapshot,
    JobSpec,
)

STAGE_LIMIT = 200
_SPEC_COLUMNS = (Job.id, Job.demo, Job.params, Job.time_limit_s, Job.queue, Job.attempts, Job.progress)


def new_job_id() -> str:
    """A job id: 32 hex digits, unguessable enough that it can appear in a button."""
    return uuid.uuid4().hex


class JobStore:
    """Reads and moves job rows; each method is its own unit of work unless it takes the caller's session."""

    def __init__(self, database: Database, clock: Callable[[], datetime] = utcnow, *,
                 progress_database: Database | None = None) -> None:
        self.database = database
        self.clock = clock
        # Progress writes may go through an engine that gives up on a lock at once (workers pass one), so a
        # busy database costs a demo a skipped progress update, not seconds of its time limit.
        self.progress_database = progress_database or database

    # --- creation, inside the caller's transaction ---------------------------------------------------------

    def insert(self, *, session: Session, demo: str, params: dict[str, Any], queue: str, backend: str,
               time_limit_s: float, platform: str, user_id: int | None, channel_id: int | None,
               message_ref: str | None = None, job_id: str | None = None, origin: str | None = None) -> str:
        """Add a queued job (with a new id unless one is given); workers see it once the caller commits.
        `origin`: the network address of an anonymous requester."""
        job_id = job_id or new_job_id()
        now = self.clock()
        session.add(Job(id=job_id, demo=demo, params=params, queue=queue, backend=backend, time_limit_s=time_limit_s,
                        platform=platform, user_id=user_id, channel_id=channel_id, message_ref=message_ref,
                        origin=origin[:64] if origin else None,
                        status=QUEUED, progress=0.0, stage="", attempts=0, created_at=now, updated_at=now))
        session.flush()
        return job_id

    def count_active(self, *, session: Session, user_id: int | None = None, origin: str | None = None,
                     anonymous: bool = False) -> int:
        """Jobs queued or running of this person, of this anonymous address, or (`anonymous`) of every anonymous
        requester."""
        query = select(func.count()).select_from(Job).where(Job.status.in_(ACTIVE))
        if user_id is not None:
            query = query.where(Job.user_id == user_id)
        if origin is not None:
            query = query.where(Job.origin == origin[:64])
        if anonymous:
            query = query.where(Job.origin.is_not(None))
        return int(session.scalar(query) or 0)

    def count_waiting(self, *, session: Session) -> int:
        """Jobs queued and not yet picked up by any worker."""
        return int(session.scalar(select(func.count()).select_from(Job).where(Job.status == QUEUED)) or 0)

    # --- metrics (read at scrape time: one GROUP BY each) -------------------------------------------------

    def counts_by_demo_status(self) -> dict[tuple[str, str], int]:
        """{(demo, status): number of job rows}."""
        with self.database.session() as session:
            rows = session.execute(select(Job.demo, Job.status, func.count()).group_by(Job.demo, Job.status)).all()
        return {(demo, status): int(count) for demo, status, count in rows}

    def waiting_by_queue(self) -> dict[str, int]:
        """{queue: jobs queued and not yet claimed}."""
        with self.database.session() as session:
            rows = session.execute(select(Job.queue, func.count()).where(Job.status == QUEUED)
                                   .group_by(Job.queue)).all()
        return {queue: int(count) for queue, count in rows}

    def recent_workers_by_queue(self, within_s: float) -> dict[str, int]:
        """{queue: distinct workers that ran a job of it in the last `within_s` seconds} (for backends that
        cannot list their live workers cheaply)."""
        since = self.clock() - timedelta(seconds=within_s)
        with self.database.session() as session:
            rows = session.execute(select(Job.queue, func.count(func.distinct(Job.worker)))
                                   .where(Job.worker.is_not(None), Job.updated_at >= since)
                                   .group_by(Job.queue)).all()
        return {queue: int(count) for queue, count in rows}

    # --- the dashboard's lists ------------------------------------------------------------------------------

    def recent(self, limit: int) -> list[JobListing]:
        """The newest jobs, newest first, with who started them and where."""
        query = (select(Job, User.display_name, User.platform_user_id, Channel.name, Channel.platform_channel_id)
                 .outerjoin(User, User.id == Job.user_id).outerjoin(Channel, Channel.id == Job.channel_id)
                 .order_by(Job.created_at.desc(), Job.id.desc()).limit(limit))
        with self.database.session() as session:
            return [JobListing(job.id, job.demo, dict(job.params or {}), dict(job.result or {}), job.status,
                               job.progress, job.stage, job.platform, name or user_id, channel_name or channel_id,
                               job.created_at, job.worker)
                    for job, name, user_id, channel_name, channel_id in session.execute(query)]

    def active_by_queue(self) -> dict[str, tuple[int, int]]:
        """{queue: (jobs queued, jobs running)} for queues with active jobs."""
        query = (select(Job.queue, count_if(Job.status == QUEUED), count_if(Job.status == RUNNING))
                 .where(Job.status.in_(ACTIVE)).group_by(Job.queue))
        with self.database.session() as session:
            return {queue: (int(waiting), int(running)) for queue, waiting, running in session.execute(query)}

    def workers_seen(self, limit: int) -> list[tuple[str, str, datetime]]:
        """(worker, a queue it served, when a job of it last changed) for the workers that ran jobs, latest first."""
        query = (select(Job.worker, func.max(Job.queue), func.max(Job.updated_at)).where(Job.worker.is_not(None))
                 .group_by(Job.worker).order_by(func.max(Job.updated_at).desc()).limit(limit))
        with self.database.session() as session:
            return [(str(worker), queue, last) for worker, queue, last in session.execute(query)]

    def count_started(self, *, session: Session, since: datetime, until: datetime, platform: str | None = None
                      ) -> int:
        """Jobs created from `since` to before `until`, on one platform or all."""
        query = select(func.count(Job.id)).where(Job.created_at >= since, Job.created_at < until)
        if platform:
            query = query.where(Job.platform == platform)
        return int(session.scalar(query) or 0)

    # --- reads ---------------------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobSnapshot | None:
        """The job as it is now, or None."""
        query = (select(Job, User.platform_user_id, User.platform).outerjoin(User, User.id == Job.user_id)
                 .where(Job.id == job_id))
        with self.database.session() as session:
            row = session.execute(query).first()
            if row is None:
                return None
            job, requester, requester_platform = row
            images = self._images(session, job_id) if job.status == SUCCEEDED else ()
            snapshot = _snapshot(job, requester, requester_platform, images)
            if job.status == QUEUED:
                snapshot = replace(snapshot, position=self._position(session, job))
            return snapshot

    @staticmethod
    def _position(session: Session, job: Job) -> int:
        """1 + the queued jobs a worker of its backend and queue takes first (claim_next's order)."""
        ahead = (Job.created_at < job.created_at) | ((Job.created_at == job.created_at) & (Job.id < job.id))
        return 1 + int(session.scalar(select(func.count()).select_from(Job).where(
            Job.status == QUEUED, Job.backend == job.backend, Job.queue == job.queue, ahead)) or 0)

    def images(self, job_id: str) -> list[bytes]:
        """The PNGs a finished job produced, in order."""
        with self.database.session() as session:
            return list(self._images(session, job_id))

    @staticmethod
    def _images(session: Session, job_id: str) -> tuple[bytes, ...]:
        query = select(JobImage.png).where(JobImage.job_id == job_id).order_by(JobImage.position)
        return tuple(session.scalars(query))

    # --- worker side ---------------------------------------------------------------------------------------

    def claim(self, job_id: str, *, worker: str, device: str) -> JobSpec | None:
        """Mark the job running on `worker` (again, for a re-delivery); None when it is finished or unknown."""
        return self._claim(Job.id == job_id, Job.status.in_(ACTIVE), worker=worker, device=device)

    def claim_next(self, *, backend: str, worker: str, device: str, queues: Sequence[str] = ()) -> JobSpec | None:
        """Take the oldest queued job of this backend (and queues), or None; safe against concurrent claimers."""
        candidate = aliased(Job)
        oldest = select(candidate.id).where(candidate.status == QUEUED, candidate.backend == backend)
        if queues:
            oldest = oldest.where(candidate.queue.in_(list(queues)))
        oldest = oldest.order_by(candidate.created_at, candidate.id).limit(1).with_for_update(skip_locked=True)
        return self._claim(Job.id == oldest.scalar_subquery(), Job.status == QUEUED, worker=worker, device=device)

    def _claim(self, *where: Any, worker: str, device: str) -> JobSpec | None:
        now = self.clock()
        statement = (update(Job).where(*where)
                     .values(status=RUNNING, attempts=Job.attempts + 1, worker=worker[:128], device=device[:64],
                             started_at=now, updated_at=now)
                     .returning(*_SPEC_COLUMNS))
        with self.database.transaction() as session:
            row = session.execute(statement, execution_options={"synchronize_session": False}).first()
        if row is None:
            return None
        return JobSpec(job_id=row.id, demo=row.demo, params=dict(row.params or {}),
                       time_limit_s=float(row.time_limit_s), queue=row.queue, attempts=int(row.attempts),
                       progress=float(row.progress))

    def report(self, job_id: str, progress: float, stage: str) -> bool:
        """Record progress (never lowering it); False when the job is no longer running (cancelled, timed out)."""
        statement = (update(Job).where(Job.id == job_id, Job.status == RUNNING)
                     .values(progress=case((Job.progress < progress, progress), else_=Job.progress),
                             stage=stage[:STAGE_LIMIT], updated_at=self.clock()))
        with self.progress_database.transaction() as session:
            return rowcount(session.execute(statement, execution_options={"synchronize_session": False})) == 1

    def finish(self, job_id: str, status: str, *, result: JobResult | None = None, error: str | None = None,
               only_attempt: int | None = None) -> bool:
        """Move the job to a terminal status unless it already has one; True when this call won."""
        if status not in TERMINAL:
            raise ValueError(f"not a terminal status: {status}")
        values: dict[str, Any] = {"status": status, "finished_at": self.clock(), "updated_at": self.clock(),
                                  "error": error[:4000] if error else None}
        if status == SUCCEEDED:
            values["progress"] = 1.0
        if result is not None:
            values["result"] = {"text": result.text, "code": result.code, "metrics": result.metrics}
            if result.device:
                values["device"] = result.device[:64]
        conditions = [Job.id == job_id, Job.status.in_(ACTIVE)]
        if only_attempt is not None:
            conditions.append(Job.attempts == only_attempt)
        with self.database.transaction() as session:
            won = rowcount(session.execute(update(Job).where(*conditions).values(**values),
                                           execution_options={"synchronize_session": False})) == 1
            if won and result is not None and result.images:
                session.execute(insert(JobImage), [{"job_id": job_id, "position": n, "png": png}
                                                   for n, png in enumerate(result.images)])
        return won

    def cancel(self, job_id: str, reason: str = "cancelled") -> bool:
        """Cancel a queued or running job; False when it had already finished."""
        return self.finish(job_id, CANCELLED, error=reason)

    def fail_running_on(self, worker: str, reason: str) -> list[str]:
        """Fail every job still running on a worker that is known to be gone; the ids it failed."""
        with self.database.session() as session:
            ids = list(session.scalars(select(Job.id).where(Job.worker == worker, Job.status == RUNNING)))
        return [job_id for job_id in ids if self.finish(job_id, FAILED, error=reason)]

    def reap(self, *, margin_s: float, queue_timeout_s: float, backend: str | None = None,
             now: datetime | None = None) -> list[str]:
        """Fail jobs whose worker vanished (running past their time limit plus `margin_s`) and jobs no worker
        picked up within `queue_timeout_s`; the ids it failed."""
        now = now or self.clock()
        query = select(Job.id, Job.status, Job.started_at, Job.created_at, Job.time_limit_s, Job.attempts).where(
            Job.status.in_(ACTIVE))
        if backend is not None:
            query = query.where(Job.backend == backend)
        with self.database.session() as session:
            rows = session.execute(query).all()
        reaped = []
        for row in rows:
            if row.status == RUNNING and row.started_at is not None:
                limit = timedelta(seconds=row.time_limit_s + margin_s)
                if now - row.started_at > limit and self.finish(
                        row.id, FAILED, only_attempt=row.attempts,
                        error=f"the worker running it stopped answering (no result {limit.total_seconds():.0f} s "
                              "after it started)"):
                    reaped.append(row.id)
            elif row.status == QUEUED and now - row.created_at > timedelta(seconds=queue_timeout_s):
                if self.finish(row.id, FAILED, error=f"no worker picked it up within {queue_timeout_s:.0f} s"):
                    reaped.append(row.id)
        return reaped


@dataclass(frozen=True)
class JobListing:
    """A job as the dashboard's list shows it: who asked (name or platform id) and where (channel name or id)."""

    id: str
    demo: str
    params: dict[str, Any]
    result: dict[str, Any]
    status: str
    progress: float
    stage: str
    platform: str
    person: str | None
    where: str | None
    created_at: datetime
    worker: str | None


def _snapshot(job: Job, requester: str | None, requester_platform: str | None,
              images: tuple[bytes, ...]) -> JobSnapshot:
    result = None
    if job.status in TERMINAL:
        stored = job.result or {}
        seconds = None
        if job.started_at is not None and job.finished_at is not None:
            seconds = round((job.finished_at - job.started_at).total_seconds(), 3)
        result = JobResult(job_id=job.id, status=job.status, device=job.device or "", text=stored.get("text", ""),
                           code=stored.get("code", ""), metrics=stored.get("metrics") or {}, images=images,
                           error=job.error, worker=job.worker, seconds=seconds)
    return JobSnapshot(job_id=job.id, demo=job.demo, params=dict(job.params or {}), status=job.status,
                       progress=job.progress, stage=job.stage, queue=job.queue, backend=job.backend,
                       time_limit_s=job.time_limit_s, platform=job.platform, requester=requester,
                       requester_platform=requester_platform, message_ref=job.message_ref, worker=job.worker,
                       device=job.device, error=job.error, attempts=job.attempts, created_at=job.created_at,
                       started_at=job.started_at, finished_at=job.finished_at, result=result)
