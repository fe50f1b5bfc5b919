"""The `/run` job: a learner's snippet, run by the worker that claimed it in a fresh jail.

A run is a job row like a demo's (same queue, limits, progress and message), named `run`, with the code and its
SHA-256 as parameters. It is not in the demo catalogue, so `/demo run` cannot start one.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from workers.demos.base import Demo, DemoOutput, ProgressFn
from workers.device import describe_device
from workers.sandbox.jail import Jail, Limits, MiB

RUN_JOB = "run"
CODE_LIMIT = 20_000  # characters: a chat message's worth, well inside the pipe that carries it into the jail
STARTUP_S = 60.0  # the job's time limit is the snippet's plus this: the self-test and starting Python
STDERR_LIMIT = 20_000


def code_hash(code: str) -> str:
    """The SHA-256 of the snippet, as recorded with its job."""
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def snippet_params(code: str) -> dict[str, Any]:
    """A run job's parameters."""
    return {"code": code, "code_sha256": code_hash(code)}


@functools.cache
def worker_jail() -> Jail:
    """This worker process's jail (self-tested on first use), sized from TORCHTUTOR_RUN_* settings, bound to
    this worker's own GPU if it has one."""
    from bot.config import get_settings
    from workers.sandbox.gpu import worker_binding

    settings = get_settings()
    limits = Limits(wall_s=settings.run_time_limit_s, cpu_s=max(1, round(settings.run_time_limit_s)),
                    memory_bytes=settings.run_memory_mb * MiB,
                    gpu_memory_fraction=settings.run_gpu_memory_fraction)
    return Jail(limits, gpu=worker_binding())


def run_snippet(params: dict[str, Any], progress: ProgressFn, *, jail: Jail | None = None) -> DemoOutput:
    """Run the snippet in a fresh jail; how it ended goes in the metrics (`outcome`, `error`, `reason`)."""
    code = str(params.get("code") or "")
    jail = jail or worker_jail()
    progress(0.1, "starting the sandbox")
    result = jail.run(code)
    progress(1.0, "finished")
    metrics = {"outcome": result.outcome, "error": result.error, "reason": result.reason,
               "stderr": result.stderr[-STDERR_LIMIT:], "seconds": round(result.seconds, 3),
               "truncated": result.truncated, "code_sha256": params.get("code_sha256") or code_hash(code)}
    device = "cuda" if jail.gpu else "cpu"
    metrics["device_name"] = describe_device(device)
    return DemoOutput(text=result.stdout, code=code, metrics=metrics, device=device, images=result.images)


SNIPPET = Demo(name=RUN_JOB, title="Your snippet", summary="A learner's own PyTorch code, run in the sandbox.",
               params={}, run=run_snippet, time_limit_s=10.0 + STARTUP_S, queue="gpu")
