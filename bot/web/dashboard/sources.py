"""The seams where the dashboard meets features that other issues build: knowledge gaps, quizzes, demo jobs.

Each function here is the one place a page asks for such data. Until the feature is merged it answers from what
this branch has (declined questions for gaps) or says "not available" (quizzes, jobs), and the pages show an
empty state. After the merge, only these functions (and the table declarations in `quiz_panels.py`) need wiring.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from sqlalchemy import inspect

from bot.core.gap_report import Gap, group_declined, with_current_answers
from bot.core.usage import declined_questions
from bot.runtime import Runtime
from bot.web.dashboard.tables import Context

# Tables whose presence means a feature's migration has run (detected, so the pages light up without config).
QUIZ_TABLE = "quiz_attempts"  # TODO(issue 5): the attempts table's real name after the merge.
JOBS_TABLE = "jobs"  # TODO(issue 3): the job rows' real table name after the merge.


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

    TODO(issue 4): when `bot.core.gaps` is merged, answer from it here instead of `bot.core.gap_report`.
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
    """Demo jobs started in the period, or None while jobs are not merged.

    TODO(issue 3): count the job rows created in `ctx.period` (and on `ctx.period.platform`).
    """
    return None


def jobs_overview(runtime: Runtime) -> dict[str, Any] | None:
    """Recent jobs, workers and queues for the jobs page, or None while jobs are not merged.

    TODO(issue 3): return {"jobs": [{"id", "demo", "status", "progress", "stage", "person", "created_at"}],
    "workers": [{"name", "queue", "healthy", "last_seen"}], "queues": [{"name", "waiting", "running"}]}.
    The page then lists them and follows each unfinished job's progress over `/dashboard/jobs/{id}/events`.
    """
    return None
