"""Errors raised below the core, carried with the attributes the adapters need to explain them."""

from __future__ import annotations


class WorkerError(Exception):
    """Base of the workers package's errors."""


class UnknownDemo(WorkerError):
    """No demo of that name is registered."""

    def __init__(self, name: str, known: list[str]):
        self.name, self.known = name, known
        super().__init__(f"unknown demo {name!r}; try one of: {', '.join(known)}")


class DemoParamError(WorkerError):
    """A demo parameter is missing, unknown, of the wrong type or out of range."""

    def __init__(self, name: str, reason: str):
        self.name, self.reason = name, reason
        super().__init__(f"parameter {name!r}: {reason}")


class UnknownJob(WorkerError):
    """No job has that id."""

    def __init__(self, job_id: str):
        self.job_id = job_id
        super().__init__(f"no job {job_id!r}")
