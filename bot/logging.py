"""Log configuration for the entry points: text for people, one JSON object per line for log pipelines.

The ids of the work a line belongs to (`request_id`, `job_id`, `platform`) live in context variables, so every
line logged while serving a request or running a job carries them, including lines from threads started with
`asyncio.to_thread` (which copies the context). Set them with `bind(...)`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id: ContextVar[str | None] = ContextVar("torchtutor_request_id", default=None)
job_id: ContextVar[str | None] = ContextVar("torchtutor_job_id", default=None)
platform: ContextVar[str | None] = ContextVar("torchtutor_platform", default=None)

CONTEXT: dict[str, ContextVar[str | None]] = {"request_id": request_id, "job_id": job_id, "platform": platform}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(context)s"
NOISY = ("sentence_transformers", "transformers", "httpx", "httpcore", "urllib3", "filelock", "uvicorn.access",
         "multipart", "asyncio")
# Attributes every LogRecord has; anything else on a record came from `extra=` and goes into the JSON.
# uvicorn adds `color_message`, an ANSI-coloured copy of the message.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "context",
                                                                         "taskName", "color_message"}


@contextmanager
def bind(**values: str | None) -> Iterator[None]:
    """Attach ids (request_id, job_id, platform) to every log line inside the block."""
    tokens = [(CONTEXT[name], CONTEXT[name].set(value)) for name, value in values.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_controls(text: str) -> str:
    """Control characters as visible escapes (`\\n`, `\\x1b`), so a logged value cannot start a forged line."""
    return _CONTROL.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    return _SHORT.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def current_context() -> dict[str, str]:
    """The ids bound right now."""
    return {name: value for name, var in CONTEXT.items() if (value := var.get()) is not None}


class ContextFilter(logging.Filter):
    """Copies the bound ids onto each record (and a ` key=value` suffix for the text format)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = current_context()
        for name, value in context.items():
            if not hasattr(record, name):
                setattr(record, name, value)
        record.context = "".join(f" {k}={v}" for k, v in context.items())
        return True


class TextFormatter(logging.Formatter):
    """TEXT_FORMAT lines whose message and ids have their control characters escaped; tracebacks follow as is."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802  (logging's name)
        return escape_controls(super().formatMessage(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, the bound ids, `extra=` fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": escape_controls(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = escape_controls(value) if isinstance(value, str) else value
        if record.exc_info:
            payload["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            payload["exception"] = record.exc_text
        if record.stack_info:
            payload["stack"] = record.stack_info
        return json.dumps(payload, ensure_ascii=False, default=str)


def configure(*, fmt: str = "text", level: str | int = logging.WARNING, ours: str | int | None = None) -> None:
    """Log to stderr (stdout stays machine-readable) in `fmt`; `ours` sets the level of torchtutor's loggers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    for name in ("bot", "knowledge", "workers"):
        logging.getLogger(name).setLevel(ours if ours is not None else logging.NOTSET)
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
