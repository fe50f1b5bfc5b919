"""The CLI's output layer: the only place torchtutor prints."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit_json(obj: Any) -> None:
    """One JSON object on one line of stdout, flushed (consumers read line by line)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def emit(text: str = "") -> None:
    """A line of human-readable text on stdout."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def fail(message: str) -> None:
    """A one-line message on stderr."""
    sys.stderr.write(f"torchtutor: {message}\n")
    sys.stderr.flush()
