"""The small immutable records of a demo job: what a worker runs, what it reports, what it produced."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

QUEUED, RUNNING = "queued", "running"
SUCCEEDED, FAILED, CANCELLED, TIMED_OUT = "succeeded", "failed", "cancelled", "timed_out"
ACTIVE = (QUEUED, RUNNING)
TERMINAL = (SUCCEEDED, FAILED, CANCELLED, TIMED_OUT)
STATUSES = ACTIVE + TERMINAL

PROGRESS, STATE, RESULT = "progress", "state", "result"
QUEUES = ("gpu", "cpu")


@dataclass(frozen=True)
class JobSpec:
    """What a worker needs to run a job, loaded from its row when the worker claims it."""

    job_id: str
    demo: str
    params: dict[str, Any]
    time_limit_s: float
    queue: str = "cpu"
    attempts: int = 1
    progress: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "demo": self.demo, "params": self.params, "time_limit_s": self.time_limit_s,
                "queue": self.queue, "attempts": self.attempts, "progress": self.progress}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        return cls(job_id=str(data["job_id"]), demo=str(data["demo"]), params=dict(data.get("params") or {}),
                   time_limit_s=float(data["time_limit_s"]), queue=str(data.get("queue", "cpu")),
                   attempts=int(data.get("attempts", 1)), progress=float(data.get("progress", 0.0)))


@dataclass(frozen=True)
class JobResult:
    """What a finished job produced (or why it produced nothing): the row's final state."""

    job_id: str
    status: str
    device: str = ""
    text: str = ""
    code: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    images: tuple[bytes, ...] = ()
    error: str | None = None
    worker: str | None = None
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: images as base64."""
        return {"job_id": self.job_id, "status": self.status, "device": self.device, "text": self.text,
                "code": self.code, "metrics": self.metrics,
                "images": [base64.b64encode(png).decode("ascii") for png in self.images], "error": self.error,
                "worker": self.worker, "seconds": self.seconds}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobResult:
        return cls(job_id=str(data["job_id"]), status=str(data["status"]), device=str(data.get("device") or ""),
                   text=str(data.get("text") or ""), code=str(data.get("code") or ""),
                   metrics=dict(data.get("metrics") or {}),
                   images=tuple(base64.b64decode(item) for item in data.get("images") or ()),
                   error=data.get("error"), worker=data.get("worker"), seconds=data.get("seconds"))


@dataclass(frozen=True)
class JobEvent:
    """One thing that happened to a job: a state change, progress, or (last) its result."""

    job_id: str
    kind: str
    status: str
    progress: float = 0.0
    stage: str = ""
    result: JobResult | None = None
    position: int | None = None  # while queued: 1 for next in line, 2 behind one job, ...

    @property
    def final(self) -> bool:
        return self.kind == RESULT

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"job_id": self.job_id, "kind": self.kind, "status": self.status,
                                "progress": self.progress, "stage": self.stage}
        if self.result is not None:
            data["result"] = self.result.to_dict()
        if self.position is not None:
            data["position"] = self.position
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobEvent:
        result = data.get("result")
        position = data.get("position")
        return cls(job_id=str(data["job_id"]), kind=str(data["kind"]), status=str(data["status"]),
                   progress=float(data.get("progress", 0.0)), stage=str(data.get("stage", "")),
                   result=JobResult.from_dict(result) if result else None,
                   position=int(position) if isinstance(position, int) else None)


@dataclass(frozen=True)
class JobSnapshot:
    """A job row as read at one moment; `result` is set once the job is terminal."""

    job_id: str
    demo: str
    params: dict[str, Any]
    status: str
    progress: float
    stage: str
    queue: str
    backend: str
    time_limit_s: float
    platform: str
    requester: str | None
    requester_platform: str | None
    message_ref: str | None
    worker: str | None
    device: str | None
    error: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result: JobResult | None = None
    position: int | None = None  # while queued: its place in line on its backend's queue, 1 = next

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def event(self) -> JobEvent:
        """The row as an event: where a late subscriber starts."""
        kind = RESULT if self.terminal else STATE
        return JobEvent(self.job_id, kind, self.status, self.progress, self.stage, self.result, self.position)
