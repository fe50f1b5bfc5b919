"""Structured logs: JSON lines with the ids of the work they belong to, and request ids on every response."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from bot import logging as tt_logging
from bot.config import Settings


@pytest.fixture
def captured() -> io.StringIO:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(tt_logging.ContextFilter())
    handler.setFormatter(tt_logging.JsonFormatter())
    logger = logging.getLogger("tests.ops.captured")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield stream
    logger.removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_bound_ids_extra_fields_and_tracebacks(captured: io.StringIO) -> None:
    log = logging.getLogger("tests.ops.captured")
    with tt_logging.bind(job_id="job-7", platform="discord"):
        log.info("progress %d%%", 40, extra={"stage": "training"})
        try:
            raise ValueError("bad params")
        except ValueError:
            log.exception("job failed")
    log.info("outside")
    first, failed, outside = _lines(captured)
    assert first["message"] == "progress 40%" and first["level"] == "INFO" and first["logger"] == log.name
    assert first["job_id"] == "job-7" and first["platform"] == "discord" and first["stage"] == "training"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", first["ts"])
    assert "ValueError: bad params" in failed["exception"] and failed["job_id"] == "job-7"
    assert "job_id" not in outside and "request_id" not in outside


async def test_ids_follow_work_into_threads(captured: io.StringIO) -> None:
    import asyncio

    log = logging.getLogger("tests.ops.captured")
    with tt_logging.bind(request_id="r-1"):
        await asyncio.to_thread(log.info, "in a worker thread")
    assert _lines(captured)[0]["request_id"] == "r-1"


def test_the_format_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().log_format == "text"
    production = Settings(environment="production", secret_key="a-long-and-random-production-secret")
    assert production.log_format == "json"
    monkeypatch.setenv("TORCHTUTOR_LOG_FORMAT", "text")
    assert Settings(environment="production", secret_key="a-long-and-random-production-secret").log_format == "text"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_control_characters_in_a_request_path_cannot_forge_a_log_line(fmt: str) -> None:
    """`%0A` (and ESC, CR, NEL...) in a path reach the access line escaped: one request, one line, in both formats."""
    from starlette.responses import PlainTextResponse
    from starlette.testclient import TestClient

    from bot.web.middleware import RequestContext

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(tt_logging.ContextFilter())
    handler.setFormatter(tt_logging.JsonFormatter() if fmt == "json" else tt_logging.TextFormatter())
    access = logging.getLogger("bot.web.access")
    access.addHandler(handler)
    old_level = access.level
    access.setLevel(logging.INFO)
    try:
        client = TestClient(RequestContext(PlainTextResponse("nothing here", status_code=404)))
        client.get("/x%0A2026-12-04 00:00:00,000 ERROR bot: forged%0D%1B[31m%C2%85end")
    finally:
        access.removeHandler(handler)
        access.setLevel(old_level)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, lines
    shown = json.loads(lines[0])["path"] if fmt == "json" else lines[0]
    assert "/x\\n2026-12-04 00:00:00,000 ERROR bot: forged\\r\\x1b[31m\\x85end" in shown
    assert not any(ch in lines[0] for ch in "\r\x1b\x85\u2028")


def test_messages_and_extra_values_are_escaped_in_json() -> None:
    record = logging.LogRecord("bot.x", logging.INFO, __file__, 1, "asked %s", ("a\nb\u2028c",), None)
    record.path = "/p\r\n"
    line = tt_logging.JsonFormatter().format(record)
    payload = json.loads(line)
    assert payload["message"] == "asked a\\nb\\u2028c" and payload["path"] == "/p\\r\\n"
    assert "\n" not in line and "\u2028" not in line
