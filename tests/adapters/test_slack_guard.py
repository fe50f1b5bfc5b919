"""Slack's HTTP endpoint against hostile requests: bad timestamps, malformed but signed payloads, oversized
bodies, and replays of signed requests. The real app (create_app), signed as Slack signs, a loopback Slack."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from bot.config import Settings
from bot.web.app import create_app
from tests.fakes.slack_api import FakeSlack, form_body, sign

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM = "T0001"
FORM = "application/x-www-form-urlencoded"
QUESTION = "How is a PyTorch tensor different from a numpy array?"


def slash(text: str, *, channel: str, response_url: str, trigger: str = "13345224609.738474920.8088930838d88f") \
        -> str:
    """A slash command body with the fields Slack documents."""
    return form_body({"token": "gIkuvaNzQIHg97ATvDxqgjtO", "team_id": TEAM, "team_domain": "example",
                      "channel_id": channel, "channel_name": "test", "user_id": "U2147483697", "user_name": "Steve",
                      "command": "/tt-ask", "text": text, "api_app_id": "A123456", "response_url": response_url,
                      "trigger_id": trigger})


def press(value: str, *, channel: str, ts: str, block_id: str, response_url: str) -> str:
    """A block_actions payload for a press of one of our buttons on a posted message."""
    payload = {"type": "block_actions", "team": {"id": TEAM, "domain": "example"},
               "user": {"id": "U2147483697", "username": "steve", "team_id": TEAM},
               "api_app_id": "A123456", "token": "x", "trigger_id": "1.2.3",
               "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False},
               "channel": {"id": channel, "name": "test"}, "message": {"type": "message", "ts": ts, "blocks": []},
               "response_url": response_url,
               "actions": [{"type": "button", "action_id": "tt:0", "block_id": block_id, "value": value,
                            "text": {"type": "plain_text", "text": "x"}, "action_ts": "1548426417.840180"}]}
    return urlencode({"payload": json.dumps(payload)})


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        slack.add_user("U2147483697", "Steve", admin=True)
        yield slack


@pytest.fixture
async def slack(runtime, fake: FakeSlack, caplog: pytest.LogCaptureFixture) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    settings = Settings(environment="test", database_url=runtime.settings.database_url,
                        slack_bot_token="xoxb-test-token", slack_signing_secret=SECRET, slack_api_url=fake.api_url,
                        slack_command_prefix="tt-")
    app = create_app(replace(runtime, settings=settings))
    caplog.set_level(logging.INFO)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.5", 443))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
        await app.state.slack.aclose(timeout=10)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors


async def _post(client: httpx.AsyncClient, body: str | bytes, content_type: str = FORM,
                headers: dict[str, str] | None = None) -> httpx.Response:
    signed = headers if headers is not None else sign(SECRET, body)
    return await client.post("/slack/events", content=body, headers={"Content-Type": content_type, **signed})


async def _until(check, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return result


def _posted(fake: FakeSlack, channel: str) -> list[dict[str, Any]]:
    return [c.args for c in fake.calls_to("chat.postMessage") if c.args.get("channel") == channel]


@pytest.mark.parametrize("timestamp", ["abc", "1e9", " 1700000000", "1700000000.5", "-1", ""])
async def test_a_non_numeric_timestamp_is_401(slack, timestamp) -> None:  # type: ignore[no-untyped-def]
    body = slash("hi", channel="CTS", response_url="http://127.0.0.1:1/x")
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": "v0=" + "0" * 64}
    response = await _post(slack, body, headers=headers)
    assert response.status_code == 401


MALFORMED = [
    (FORM, "payload=not-json"),
    (FORM, "payload=" + "[" * 5000),
    (FORM, urlencode({"payload": "[1, 2]"})),
    (FORM, urlencode({"payload": json.dumps({"type": "block_actions", "actions": "x"})})),
    (FORM, urlencode({"payload": json.dumps({"type": "block_actions", "actions": []})})),
    (FORM, urlencode({"payload": json.dumps({"type": "block_actions", "user": ["U1"],
                                             "actions": [{"action_id": "tt:0", "value": "x"}]})})),
    (FORM, urlencode({"payload": json.dumps({"type": "block_actions", "actions": [{"action_id": 7}]})})),
    (FORM, urlencode({"payload": json.dumps({"type": "block_actions", "team": {"id": "\ud800"},
                                             "actions": [{"action_id": "tt:0"}]})})),
    ("application/json", json.dumps({"type": "event_callback", "event": "x", "event_id": "Ev1"})),
    ("application/json", json.dumps({"type": "event_callback", "event_id": "Ev2", "team_id": TEAM,
                                     "event": {"type": "app_mention", "user": {"id": 1}, "channel": "C1"}})),
    ("application/json", json.dumps({"type": "event_callback", "event_id": ["Ev3"], "event": {}})),
    ("application/json", "[1]"),
    ("application/json", '{"type": "event_callback", "event": {"text": NaN'),
    ("application/json", b'{"type": "\xff\xfe"}'),
]


async def test_malformed_but_signed_payloads_are_400(slack) -> None:  # type: ignore[no-untyped-def]
    answers = {str(body)[:60]: (await _post(slack, body, content_type)) for content_type, body in MALFORMED}
    wrong = {body: (r.status_code, r.text[:100]) for body, r in answers.items() if r.status_code != 400}
    assert not wrong


async def test_a_slack_body_over_1_mib_is_refused_while_it_streams(slack) -> None:  # type: ignore[no-untyped-def]
    sent: list[int] = []

    async def fifty_megabytes():  # type: ignore[no-untyped-def]
        for _ in range(800):
            sent.append(1)
            yield b"text=" + b"x" * 65531

    response = await slack.post("/slack/events", content=fifty_megabytes(),
                                headers={"Content-Type": FORM, **sign(SECRET, "whatever")})
    assert response.status_code == 413
    assert len(sent) <= 18, f"read {len(sent)} chunks of 64 KiB before refusing"


async def test_a_replayed_slash_command_runs_once(slack, fake: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    body = slash(QUESTION, channel="CREPLAY", response_url=fake.response_url())
    headers = sign(SECRET, body)
    assert (await _post(slack, body, headers=headers)).status_code == 200
    answer = (await _until(lambda: _posted(fake, "CREPLAY")))[0]
    for _ in range(3):  # an eavesdropper replays the request within the five minutes the signature is good for
        assert (await _post(slack, body, headers=headers)).status_code == 200

    again = slash(QUESTION, channel="CREPLAY", response_url=fake.response_url(), trigger="2.2.2")
    assert (await _post(slack, again)).status_code == 200, "a new request (its own signature) is taken"
    await _until(lambda: len(_posted(fake, "CREPLAY")) >= 2)
    marker = slash(QUESTION, channel="CMARK", response_url=fake.response_url())
    await _post(slack, marker)
    await _until(lambda: _posted(fake, "CMARK"))
    assert len(_posted(fake, "CREPLAY")) == 2, "the replays were not answered"

    up = next(e["value"] for b in answer["blocks"] if b["type"] == "actions" for e in b["elements"]
              if e["value"].startswith("feedback:up:"))
    block = next(b["block_id"] for b in answer["blocks"] if b["type"] == "actions"
                 for e in b["elements"] if e["value"] == up)
    hook = fake.response_url("thanks")
    pressed = press(up, channel="CREPLAY", ts=fake.message_ts("CREPLAY")[0], block_id=block, response_url=hook)
    headers = sign(SECRET, pressed)
    for _ in range(3):
        assert (await _post(slack, pressed, headers=headers)).status_code == 200
    await _until(lambda: fake.hooks_to("thanks"))
    await _post(slack, slash(QUESTION, channel="CMARK2", response_url=fake.response_url()))
    await _until(lambda: _posted(fake, "CMARK2"))
    assert len(fake.hooks_to("thanks")) == 1, "a replayed button press is taken once"
