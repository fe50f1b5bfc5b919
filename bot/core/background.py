"""Background tasks of the core (the study and job-message loops)."""

from __future__ import annotations

import asyncio
from contextlib import suppress


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Cancel a background task and wait until it has ended."""
    if task is None:
        return
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
