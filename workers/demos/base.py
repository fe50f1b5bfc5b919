"""What a demo is: a named, parameterised piece of real PyTorch that reports progress and returns a result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ProgressFn = Callable[[float, str], None]
"""Called by a running demo with a fraction in [0, 1] and a short stage text."""


@dataclass(frozen=True)
class DemoOutput:
    """What a demo returns: chat-sized text, the code that ran, numbers, and PNG images."""

    text: str
    code: str
    metrics: dict[str, Any]
    device: str
    images: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class Demo:
    """A registered demo: its name, how to describe it, its parameter schema and its entry point."""

    name: str
    title: str
    summary: str
    params: dict[str, Any]
    run: Callable[[dict[str, Any], ProgressFn], DemoOutput]
    time_limit_s: float = 60.0
    queue: str = "cpu"
    tags: tuple[str, ...] = field(default=())
    route: Callable[[dict[str, Any]], str] | None = None
    """Picks the queue from the checked parameters, for demos that run on the CPU or the GPU as asked."""

    def queue_for(self, params: dict[str, Any]) -> str:
        """The queue a job with these checked `params` goes to."""
        return self.route(params) if self.route is not None else self.queue

    def describe(self) -> dict[str, Any]:
        """The `demo list --json` object of this demo."""
        return {"name": self.name, "title": self.title, "summary": self.summary, "params": self.params}
