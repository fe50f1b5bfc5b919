"""What the core reports about its work, as an interface: bot.metrics implements it, tests may fake it."""

from __future__ import annotations

from typing import Protocol


class Telemetry(Protocol):
    """Events worth counting; each call is cheap and never raises."""

    def question_answered(self, *, platform: str, status: str, seconds: float) -> None:
        """A question was answered (or declined) and recorded, `seconds` after it reached the core."""

    def quiz_attempted(self, *, correct: bool) -> None:
        """Someone answered a quiz item."""

    def platform_api_error(self, *, platform: str, kind: str) -> None:
        """A call to a chat platform's API failed (`kind`: rate_limited, http_4xx, http_5xx, timeout, ...)."""


class NoTelemetry:
    """Counts nothing (scripts, tests that do not look)."""

    def question_answered(self, *, platform: str, status: str, seconds: float) -> None:
        pass

    def quiz_attempted(self, *, correct: bool) -> None:
        pass

    def platform_api_error(self, *, platform: str, kind: str) -> None:
        pass
