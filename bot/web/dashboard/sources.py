"""The seams where the dashboard meets features that other issues build: knowledge gaps, quizzes, demo jobs.

Each function here is the one place a page asks for such data. Until the feature is merged it answers from what
this branch has (declined questions for gaps) or says "not available" (quizzes, jobs), and the pages show an
empty state. After the merge, only these functions (and the table declarations in `quiz_panels.py`) need wiring.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from sqlalchemy import case, func, inspect, select

from bot.core.admin.gap_report import Gap, group_declined, with_current_answers
from bot.core.admin.usage import declined_questions
from bot.db.base import utcnow
from bot.db.job_models import Job
from bot.db.models import Channel, User
from bot.db.quiz_models import QuizAttempt
from bot.runtime import Runtime
from bot.web.dashboard.tables import Context
from workers.jobs import ACTIVE, QUEUED, QUEUES, RUNNING
from workers.sandbox.job import RUN_JOB

# Tables whose presence means a feature's migration has run (detected, so the pages light up without config).
QUIZ_TABLE = QuizAttempt.__tablename__
JOBS_TABLE = Job.__tablename__
RECENT_JOBS = 50  # jobs listed on the jobs page
WORKER_SILENT_S = 300  # a worker seen only through job rows counts as healthy this long after its last update


def optional_module(name: str) -> ModuleType | None:
    """A module another issue adds, or None while it is not merged."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:  # the module exists but something it imports is missing: that is a real error
            raise
        return None


def has_table(runtime: Runtime, name: str) -> bool:
    """Whether the database has this table (its feature's migration has run)."""
    return inspect(runtime.database.engine).has_table(name)


def knowledge_gaps(ctx: Context, limit: int = 200) -> list[Gap]:
    """Questions the bot declined in the period, grouped, each marked with the entry that answers it now.

    TODO(issue 4): when `bot.core.admin.gaps` is merged, answer from it here instead of `bot.core.admin.gap_report`.
    """
    gaps = group_declined(declined_questions(session=ctx.session, period=ctx.period))[:limit]
    return with_current_answers(gaps, ctx.runtime.ask) if ctx.runtime.ready else gaps


def quizzes_enabled(runtime: Runtime) -> bool:
    """Whether quiz statistics can be shown (issue 5 merged and migrated)."""
    return has_table(runtime, QUIZ_TABLE)


def jobs_enabled(runtime: Runtime) -> bool:
    """Whether demo jobs can be listed (issue 3 merged and migrated)."""
    return has_table(runtime, JOBS_TABLE)


def demos_run(ctx: Context) -> int | None:
    """Demo jobs started in the period (on its platform, if one is chosen), or None while jobs are not migrated."""
    if not jobs_enabled(ctx.runtime):
        return None
    first, after = ctx.period.bounds()
    query = select(func.count(Job.id)).where(Job.created_at >= first, Job.created_at < after)
    if ctx.period.platform:
        query = query.where(Job.platform == ctx.period.platform)
    return int(ctx.session.scalar(query) or 0)


def jobs_overview(runtime: Runtime) -> dict[str, Any] | None:
    """Recent jobs, workers and queues for the jobs page, or None while jobs are not migrated.

    {"jobs": [{"id", "demo", "status", "progress", "stage", "person", "created_at", "worker", "active"}],
     "workers": [{"name", "queue", "healthy", "last_seen", "job"}], "queues": [{"name", "waiting", "running"}]}.
    Workers come from the backend when it can list its processes (the local pool), else from the job rows.
    """
    if not jobs_enabled(runtime):
        return None
    with runtime.database.session() as session:
        rows = session.execute(
            select(Job, User.display_name, User.platform_user_id, Channel.name, Channel.platform_channel_id)
            .outerjoin(User, User.id == Job.user_id).outerjoin(Channel, Channel.id == Job.channel_id)
            .order_by(Job.created_at.desc(), Job.id.desc()).limit(RECENT_JOBS)).all()
        jobs = [{"id": job.id, "demo": _job_label(job), "status": job.status, "progress": job.progress,
                 "stage": job.stage, "person": f"{name or user_id or '?'} ({job.platform})",
                 "where": channel_name or channel_id or "", "created_at": job.created_at, "worker": job.worker,
                 "active": job.status in ACTIVE}
                for job, name, user_id, channel_name, channel_id in rows]
        counts = session.execute(
            select(Job.queue, func.coalesce(func.sum(case((Job.status == QUEUED, 1), else_=0)), 0),
                   func.coalesce(func.sum(case((Job.status == RUNNING, 1), else_=0)), 0))
            .where(Job.status.in_(ACTIVE)).group_by(Job.queue)).all()
        seen = session.execute(
            select(Job.worker, func.max(Job.queue), func.max(Job.updated_at))
            .where(Job.worker.is_not(None)).group_by(Job.worker)
            .order_by(func.max(Job.updated_at).desc()).limit(20)).all()
    waiting = {queue: (int(w), int(r)) for queue, w, r in counts}
    queues = [{"name": name, "waiting": waiting.get(name, (0, 0))[0], "running": waiting.get(name, (0, 0))[1]}
              for name in sorted(set(QUEUES) | set(waiting))]
    return {"jobs": jobs, "workers": _workers(runtime, seen), "queues": queues}


def _job_label(job: Job) -> str:
    """A demo's name; for a learner's snippet, `run`, its code's hash and how it ended (never the code)."""
    if job.demo != RUN_JOB:
        return job.demo
    label = f"run · sha256 {str((job.params or {}).get('code_sha256', ''))[:12]}"
    outcome = ((job.result or {}).get("metrics") or {}).get("outcome")
    return f"{label} · {outcome}" if outcome else label


def _workers(runtime: Runtime, seen: list[Any]) -> list[dict[str, Any]]:
    processes = getattr(runtime.demos.backend, "processes", None)
    if processes is not None:  # the local pool knows its processes: alive ones are healthy
        return [{"name": name or "starting", "queue": runtime.demos.backend.name, "healthy": pid is not None,
                 "last_seen": None, "job": job_id} for name, pid, job_id in processes]
    now = utcnow()
    return [{"name": worker, "queue": queue, "last_seen": last, "job": None,
             "healthy": last is not None and (now - last).total_seconds() < WORKER_SILENT_S}
            for worker, queue, last in seen]
