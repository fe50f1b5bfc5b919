"""Demos that exist only for tests, loaded into worker processes through TORCHTUTOR_DEMO_MODULES."""

from __future__ import annotations

import os
import time
from typing import Any

from workers.demos import Demo, DemoOutput, ProgressFn

MODULE = "tests.workers.sample_demos"


def _params(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "additionalProperties": False}


SECONDS = {"type": "number", "minimum": 0, "maximum": 60, "default": 1.0, "description": "How long to sleep."}
REPORT = {"type": "boolean", "default": True, "description": "Report progress while sleeping."}


def sleep(params: dict[str, Any], progress: ProgressFn) -> DemoOutput:
    """Sleep in 20 steps, reporting progress after each (unless report=false)."""
    seconds, report = params.get("seconds", 1.0), params.get("report", True)
    progress(0.0, "sleeping")
    for step in range(20):
        time.sleep(seconds / 20)
        if report:
            progress((step + 1) / 20, f"step {step + 1}/20")
    return DemoOutput(text=f"slept {seconds:g} s", code="time.sleep(seconds)\n",
                      metrics={"seconds": seconds, "pid": os.getpid()}, device="cpu", images=(b"\x89PNG-fake",))


def stubborn(params: dict[str, Any], progress: ProgressFn) -> DemoOutput:
    """Never reports, and swallows every Exception (Celery's soft time limit included): only a kill stops it."""
    progress(0.0, "ignoring everyone")
    deadline = time.monotonic() + params.get("seconds", 1.0)
    while time.monotonic() < deadline:
        try:
            time.sleep(0.05)
        except Exception:  # that is the point of this demo
            continue
    return DemoOutput(text="outlived its limit", code="", metrics={}, device="cpu")


def boom(params: dict[str, Any], progress: ProgressFn) -> DemoOutput:
    progress(0.1, "about to fail")
    raise ValueError("boom\nsecond line")


def out_of_memory(params: dict[str, Any], progress: ProgressFn) -> DemoOutput:
    import torch

    progress(0.1, "allocating")
    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")


SLEEP = Demo(name="test-sleep", title="Test: sleep", summary="Sleeps, reporting progress.",
             params=_params(seconds=SECONDS, report=REPORT), run=sleep, time_limit_s=20.0, queue="cpu")
SHORT = Demo(name="test-short-limit", title="Test: short limit", summary="Sleeps past a 1 s time limit.",
             params=_params(seconds=SECONDS, report=REPORT), run=sleep, time_limit_s=1.0, queue="cpu")
LIMIT3 = Demo(name="test-three-seconds", title="Test: 3 s limit", summary="Sleeps with a 3 s time limit.",
              params=_params(seconds=SECONDS, report=REPORT), run=sleep, time_limit_s=3.0, queue="cpu")
LIMIT8 = Demo(name="test-eight-seconds", title="Test: 8 s limit", summary="Sleeps with an 8 s time limit.",
              params=_params(seconds=SECONDS, report=REPORT), run=sleep, time_limit_s=8.0, queue="cpu")
STUBBORN = Demo(name="test-stubborn", title="Test: stubborn", summary="Ignores its 1 s time limit.",
                params=_params(seconds=SECONDS), run=stubborn, time_limit_s=1.0, queue="cpu")
BOOM = Demo(name="test-boom", title="Test: boom", summary="Raises.", params=_params(), run=boom, time_limit_s=5.0)
OOM = Demo(name="test-oom", title="Test: out of memory", summary="Raises CUDA out of memory.", params=_params(),
           run=out_of_memory, time_limit_s=5.0, queue="gpu")
DEMOS = (SLEEP, SHORT, LIMIT3, LIMIT8, STUBBORN, BOOM, OOM)
