"""The core's domain errors; each adapter turns them into a friendly line in one place."""

from __future__ import annotations


class TorchtutorError(Exception):
    """Base of errors whose message is safe and useful to show to the person."""

    def user_message(self) -> str:
        """What to tell the person."""
        return str(self)


class BadInput(TorchtutorError):
    """The person's input cannot be used as given."""


class NotFound(TorchtutorError):
    """Something the person referred to does not exist (any more)."""


class Forbidden(TorchtutorError):
    """The person may not do this."""


class QueueFull(TorchtutorError):
    """Too many jobs are waiting, overall or for this person."""

    def __init__(self, limit: int, scope: str = "queue") -> None:
        self.limit, self.scope = limit, scope
        what = {"person": "you already have", "address": "your network address already has",
                "anonymous": "visitors of the playground already have"}.get(scope, "the demo queue already holds")
        super().__init__(f"Sorry, {what} {limit} demo job(s) waiting or running. Try again in a minute.")
