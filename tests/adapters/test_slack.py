"""Slack: signed requests in Slack's shapes into the real Bolt app, answers recorded by a loopback Slack.

Three ways in: `torchtutor serve` (HTTP, OAuth installs plus the single-workspace token), `torchtutor run`
(Socket Mode over a loopback websocket), and the adapter in-process with a test Tutor whose fake streaming
command proves progress updates, their throttling and the image upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
import yaml
from fastapi import FastAPI
from fastapi import Request as HttpRequest
from pydantic import SecretStr

from bot.adapters.slack import SlackAdapter
from bot.adapters.slack.app import BOT_SCOPES
from bot.adapters.slack.delivery import EditPacer
from bot.adapters.slack.manifest import MODES, Mode, file_name, manifest_yaml
from bot.adapters.slack.render import render_blocks, split_mrkdwn, to_mrkdwn
from bot.adapters.slack.translate import slash_commands
from bot.config import Settings
from bot.core.commands import BY_NAME, CATALOGUE, NAMES
from bot.core.conversation import Button, Image, Person, Reply, Request
from bot.core.tutor import Tutor
from bot.db import slack as slack_db
from bot.db.engine import Database
from bot.db.migrate import upgrade
from tests.conftest import DATA, REPO
from tests.fakes.slack_api import FakeSlack, Team, check_blocks, form_body, sign
from tests.helpers import free_port, served, wait_until

PAYLOADS = DATA / "slack"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM = "T0001"
PREFIX = "tt-"
TENSOR_QUESTION = "How is a PyTorch tensor different from a numpy array?"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
FORM = "application/x-www-form-urlencoded"


# ----- Slack's payloads, from the documented examples

def slash_fields(command: str, text: str, *, channel: str, response_url: str) -> dict[str, str]:
    """The documented slash command body, pointed at one of our commands."""
    fields: dict[str, str] = json.loads((PAYLOADS / "slash_command.json").read_text())
    fields.update(team_id=TEAM, command=command, text=text, channel_id=channel, response_url=response_url)
    return fields


def button_body(value: str, *, message: dict[str, Any], channel: str, response_url: str,
                block_id: str, ephemeral: bool = False) -> str:
    """The documented block_actions payload, for a press of one of our buttons on a posted message."""
    payload = json.loads((PAYLOADS / "block_actions_button.json").read_text())
    payload["team"]["id"] = payload["user"]["team_id"] = TEAM
    payload["container"].update(type="message", message_ts=message["ts"], channel_id=channel, is_ephemeral=ephemeral)
    payload["channel"]["id"] = channel
    payload["message"].update(ts=message["ts"], blocks=message.get("blocks", []))
    payload["response_url"] = response_url
    payload["actions"][0].update(action_id="tt:0", block_id=block_id, value=value)
    return urlencode({"payload": json.dumps(payload)})


def mention_event(text: str, *, channel: str, event_id: str, ts: str, kind: str = "app_mention",
                  **extra: Any) -> dict[str, Any]:
    """The documented app_mention event_callback (or a direct message in the same envelope)."""
    body = json.loads((PAYLOADS / "event_app_mention.json").read_text())
    body.update(team_id=TEAM, event_id=event_id)
    body["authorizations"][0].update(team_id=TEAM, user_id="UBOT", is_bot=True)
    body["event"].update(type=kind, text=text, channel=channel, ts=ts, event_ts=ts, **extra)
    return body


def post(url: str, body: str, content_type: str, *, secret: str = SECRET, timestamp: int | None = None,
         headers: dict[str, str] | None = None) -> tuple[httpx.Response, float]:
    """POST a body to /slack/events signed as Slack signs it; returns the response and how long it took."""
    started = time.monotonic()
    response = httpx.post(f"{url}/slack/events", content=body, timeout=10,
                          headers={"Content-Type": content_type, **sign(secret, body, timestamp), **(headers or {})})
    return response, time.monotonic() - started


def posted_in(fake: FakeSlack, channel: str) -> list[dict[str, Any]]:
    return [c.args for c in fake.calls_to("chat.postMessage") if c.args.get("channel") == channel]


def block_values(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["value"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def block_of_value(blocks: list[dict[str, Any]], value: str) -> str:
    return next(b["block_id"] for b in blocks if b["type"] == "actions" for e in b["elements"] if e["value"] == value)


def all_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


# ----- the served app: HTTP, OAuth installs, and the single-workspace token for T0001

@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        slack.add_user("U2147483697", "Steve", admin=True)
        slack.add_user("U061F7AUR", "River")
        yield slack


@pytest.fixture(scope="module")
def slack_url(fake: FakeSlack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("slack-served")
    database_url = f"sqlite:///{tmp}/torchtutor.db"
    upgrade(database_url)
    env = {
        "TORCHTUTOR_DATABASE_URL": database_url, "TORCHTUTOR_CACHE_DIR": str(tmp / "cache"),
        "TORCHTUTOR_ENVIRONMENT": "test", "TORCHTUTOR_SLACK_SIGNING_SECRET": SECRET,
        "TORCHTUTOR_SLACK_BOT_TOKEN": "xoxb-test-token", "TORCHTUTOR_SLACK_API_URL": fake.api_url,
        "TORCHTUTOR_SLACK_COMMAND_PREFIX": PREFIX, "TORCHTUTOR_SLACK_CLIENT_ID": fake.client_id,
        "TORCHTUTOR_SLACK_CLIENT_SECRET": fake.client_secret,
    }
    with _clean_environment(tmp), served(env=env) as url:
        yield url


@contextlib.contextmanager
def _clean_environment(cwd: Path) -> Iterator[None]:
    """Module-scoped servers start before the per-test isolation does: no TORCHTUTOR_* of the developer's."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("TORCHTUTOR_") and not name.startswith("TORCHTUTOR_TEST_"):
                patch.delenv(name)
        patch.chdir(cwd)
        yield


def test_url_verification_echoes_the_challenge(slack_url: str) -> None:
    body = (PAYLOADS / "url_verification.json").read_text()
    response, _ = post(slack_url, body, "application/json")
    assert response.status_code == 200
    assert json.loads(body)["challenge"] in response.text


def test_bad_and_stale_signatures_are_refused(slack_url: str, fake: FakeSlack) -> None:
    body = form_body(slash_fields("/tt-ask", TENSOR_QUESTION, channel="CSIGNED", response_url=fake.response_url()))
    assert post(slack_url, body, FORM, secret="not-the-secret")[0].status_code == 401
    six_minutes_ago = int(time.time()) - 6 * 60
    assert post(slack_url, body, FORM, timestamp=six_minutes_ago)[0].status_code == 401
    unsigned = httpx.post(f"{slack_url}/slack/events", content=body, headers={"Content-Type": FORM})
    assert unsigned.status_code == 401
    tampered = body.replace("numpy", "pandas")
    headers = {"Content-Type": FORM, **sign(SECRET, body)}
    assert httpx.post(f"{slack_url}/slack/events", content=tampered, headers=headers).status_code == 401
    assert post(slack_url, body, FORM)[0].status_code == 200  # the same body, properly signed, is taken
    wait_until(lambda: posted_in(fake, "CSIGNED"), what="the answer to the signed request")
    assert len(posted_in(fake, "CSIGNED")) == 1


def test_slash_ask_is_acknowledged_at_once_and_answered_with_blocks(slack_url: str, fake: FakeSlack) -> None:
    body = form_body(slash_fields("/tt-ask", TENSOR_QUESTION, channel="CASK", response_url=fake.response_url()))
    response, took = post(slack_url, body, FORM)
    assert response.status_code == 200 and response.text == "" and took < 3.0
    message = wait_until(lambda: posted_in(fake, "CASK"), what="the answer")[0]
    blocks = message["blocks"]
    assert check_blocks(blocks, limit=50) == []
    kinds = [b["type"] for b in blocks]
    assert kinds[:3] == ["context", "header", "section"] and kinds[-1] == "actions"
    assert "Steve" in blocks[0]["elements"][0]["text"] and "/tt-ask" in blocks[0]["elements"][0]["text"]
    assert "tensor" in blocks[1]["text"]["text"].lower()
    assert all(b["text"]["verbatim"] for b in blocks if b["type"] == "section")
    assert any("Source:" in e["text"] for b in blocks if b["type"] == "context" for e in b["elements"])
    assert any("Docs: <https://docs.pytorch.org/docs/stable/tensors.html|torch.Tensor>, " in e["text"]
               for b in blocks if b["type"] == "context" for e in b["elements"])
    values = block_values(blocks)
    assert any(v.startswith("feedback:up:") for v in values) and any(v.startswith("ask:entry:") for v in values)
    assert message["text"] and message["unfurl_links"] is False
    person = [c.args for c in fake.calls_to("users.info") if c.args.get("user") == "U2147483697"]
    assert person, "the asker is looked up (name, admin) once the request is acknowledged"


def test_buttons_are_routed_to_the_core(slack_url: str, fake: FakeSlack) -> None:
    body = form_body(slash_fields("/tt-ask", TENSOR_QUESTION, channel="CBTN", response_url=fake.response_url()))
    post(slack_url, body, FORM)
    answer = wait_until(lambda: posted_in(fake, "CBTN"), what="the answer")[0]
    message = {"ts": fake.message_ts("CBTN")[0], "blocks": answer["blocks"]}
    values = block_values(answer["blocks"])

    thumbs_up = next(v for v in values if v.startswith("feedback:up:"))
    hook = fake.response_url("feedback")
    response, took = post(slack_url, button_body(thumbs_up, message=message, channel="CBTN", response_url=hook,
                                                 block_id=block_of_value(answer["blocks"], thumbs_up)), FORM)
    assert response.status_code == 200 and took < 3.0
    thanks = wait_until(lambda: fake.hooks_to("feedback"), what="the feedback thanks")[0].body
    assert thanks["response_type"] == "ephemeral" and thanks["replace_original"] is False
    assert "Thanks" in thanks["text"]

    related = next(v for v in values if v.startswith("ask:entry:"))
    post(slack_url, button_body(related, message=message, channel="CBTN", response_url=fake.response_url(),
                                block_id=block_of_value(answer["blocks"], related)), FORM)
    shown = wait_until(lambda: posted_in(fake, "CBTN")[1:], what="the related entry")[0]
    assert shown["thread_ts"] == message["ts"], "a button's answer goes to the thread of the pressed message"
    assert shown["blocks"][0]["type"] == "header"


def test_mentions_are_answered_in_their_thread_and_retries_are_not_doubled(slack_url: str, fake: FakeSlack) -> None:
    event = mention_event(f"<@UBOT> {TENSOR_QUESTION}", channel="CMENTION", event_id="EvMention1",
                          ts="1515449522.000016")
    body = json.dumps(event)
    first, took = post(slack_url, body, "application/json")
    assert first.status_code == 200 and took < 3.0
    retry_headers = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    for _ in range(2):
        assert post(slack_url, body, "application/json", headers=retry_headers)[0].status_code == 200
    answer = wait_until(lambda: posted_in(fake, "CMENTION"), what="the answer in the thread")[0]
    assert answer["thread_ts"] == "1515449522.000016"
    assert "tensor" in all_text(answer["blocks"]).lower()

    marker = mention_event(f"<@UBOT> {TENSOR_QUESTION}", channel="CMARKER", event_id="EvMarker1", ts="1515449600.1")
    post(slack_url, json.dumps(marker), "application/json")
    wait_until(lambda: posted_in(fake, "CMARKER"), what="the answer to a later event")
    assert len(posted_in(fake, "CMENTION")) == 1, "a retried event must not be answered twice"


def test_direct_messages_are_answered_in_the_conversation(slack_url: str, fake: FakeSlack) -> None:
    event = mention_event(TENSOR_QUESTION, channel="DRIVER", event_id="EvDm1", ts="1515449700.000100",
                          kind="message", channel_type="im")
    assert post(slack_url, json.dumps(event), "application/json")[0].status_code == 200
    answer = wait_until(lambda: posted_in(fake, "DRIVER"), what="the answer in the DM")[0]
    assert answer.get("thread_ts") is None and "context" != answer["blocks"][0]["type"]
    bot_echo = mention_event("my own answer", channel="DRIVER", event_id="EvDm2", ts="1515449701.1", kind="message",
                             channel_type="im", bot_id="BBOT")
    post(slack_url, json.dumps(bot_echo), "application/json")
    help_event = mention_event("/help", channel="DRIVER", event_id="EvDm3", ts="1515449702.1", kind="message",
                               channel_type="im")
    post(slack_url, json.dumps(help_event), "application/json")
    wait_until(lambda: len(posted_in(fake, "DRIVER")) >= 2, what="the help in the DM")
    assert len(posted_in(fake, "DRIVER")) == 2, "the bot's own messages are not answered"
    assert "/tt-ask" in all_text(posted_in(fake, "DRIVER")[1]["blocks"])


def test_ratelimited_posts_are_retried_after_retry_after(slack_url: str, fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", "ratelimited", retry_after=1)
    body = form_body(slash_fields("/tt-ask", TENSOR_QUESTION, channel="CLIMIT", response_url=fake.response_url()))
    post(slack_url, body, FORM)
    wait_until(lambda: posted_in(fake, "CLIMIT"), what="the answer after the rate limit")
    refused = [c for c in fake.calls_to("chat.postMessage", ok=None) if c.status == 429]
    accepted = [c for c in fake.calls_to("chat.postMessage") if c.args.get("channel") == "CLIMIT"]
    assert len(refused) == 1 and len(accepted) == 1
    assert refused[0].args.get("channel") == "CLIMIT"
    assert accepted[0].at - refused[0].at >= 1.0, "the retry waits for Retry-After"


def test_echoed_text_cannot_ping_or_format(slack_url: str, fake: FakeSlack) -> None:
    text = "<!channel> @here <@U0LAN0Z89> <https://evil.example|click> *what is pytorch*"
    body = form_body(slash_fields("/tt-ask", text, channel="CESCAPE", response_url=fake.response_url()))
    post(slack_url, body, FORM)
    message = wait_until(lambda: posted_in(fake, "CESCAPE"), what="the reply")[0]
    shown = all_text(message["blocks"]) + message["text"]
    for dangerous in ("<!channel>", "<!here>", "@here", "@channel", "<@U0LAN0Z89>", "<https://evil"):
        assert dangerous not in shown
    assert "&lt;!channel&gt;" in shown or "&lt;\u200b!channel&gt;" in shown


def test_help_is_private_uses_the_prefixed_commands_and_survives_a_429(slack_url: str, fake: FakeSlack) -> None:
    hook = fake.response_url("help")
    fake.fail("hook:help", "ratelimited", retry_after=1)  # the response_url is rate limited too
    post(slack_url, form_body(slash_fields("/tt-help", "", channel="CHELP", response_url=hook)), FORM)
    reply = wait_until(lambda: fake.hooks_to("help"), what="the help")[0].body
    refused, accepted = fake.hooks_to("help", ok=False), fake.hooks_to("help")
    assert len(refused) == 1 and len(accepted) == 1 and accepted[0].at - refused[0].at >= 1.0
    assert reply["response_type"] == "ephemeral" and "/tt-ask" in all_text(reply["blocks"])
    assert not posted_in(fake, "CHELP")


def test_not_in_channel_falls_back_to_the_response_url(slack_url: str, fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", "not_in_channel")
    hook = fake.response_url("outsider")
    post(slack_url, form_body(slash_fields("/tt-ask", TENSOR_QUESTION, channel="COUT", response_url=hook)), FORM)
    reply = wait_until(lambda: fake.hooks_to("outsider"), what="the answer through the response_url")[0].body
    assert reply["response_type"] == "in_channel" and reply["blocks"][1]["type"] == "header"


def test_app_home_shows_help_and_quick_actions(slack_url: str, fake: FakeSlack) -> None:
    event = mention_event("", channel="DHOME", event_id="EvHome1", ts="1515449800.1", kind="app_home_opened",
                          tab="home", user="U061F7AUR")
    post(slack_url, json.dumps(event), "application/json")
    call = wait_until(lambda: fake.calls_to("views.publish"), what="the App Home view")[0]
    view = call.args["view"]
    assert call.args["user_id"] == "U061F7AUR" and view["type"] == "home"
    assert json.loads(view["private_metadata"]) == {"channel": "DHOME"}
    assert "slack-command:help" in block_values(view["blocks"])
    assert check_blocks(view["blocks"], limit=100) == []


def test_workspaces_install_through_oauth(slack_url: str, fake: FakeSlack) -> None:
    install = httpx.get(f"{slack_url}/slack/install")
    assert install.status_code == 200 and "oauth/v2/authorize" in install.text
    state = install.cookies.get("slack-app-oauth-state") or _state_from(install.text)
    team = Team("T0002", "Second", "xoxb-second-team", "UBOT2", "BBOT2")
    fake.add_oauth_code("code-2", team)
    done = httpx.get(f"{slack_url}/slack/oauth_redirect", params={"code": "code-2", "state": state},
                     headers={"Cookie": f"slack-app-oauth-state={state}"})
    assert done.status_code == 200, done.text
    fields = slash_fields("/tt-ask", TENSOR_QUESTION, channel="CSECOND", response_url=fake.response_url())
    fields["team_id"] = "T0002"
    del fields["enterprise_id"], fields["enterprise_name"]  # the second workspace is not part of an Enterprise Grid
    post(slack_url, form_body(fields), FORM)
    wait_until(lambda: posted_in(fake, "CSECOND"), what="the answer in the second workspace")
    tokens = {c.token for c in fake.calls_to("chat.postMessage") if c.args.get("channel") == "CSECOND"}
    assert tokens == {"xoxb-second-team"}, "each workspace is answered with its own installed token"


def _state_from(page: str) -> str:
    return page.split("state=", 1)[1].split("&", 1)[0].split('"', 1)[0]


def test_the_endpoint_is_404_with_a_hint_without_slack(settings, embedder) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from bot.runtime import build_runtime
    from bot.web.app import create_app

    with TestClient(create_app(build_runtime(settings, encoder=embedder))) as client:
        response = client.post("/slack/events", content="{}")
        assert response.status_code == 404 and "TORCHTUTOR_SLACK_SIGNING_SECRET" in response.json()["detail"]


# ----- Socket Mode through `torchtutor run`

@contextlib.contextmanager
def running(env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    """`torchtutor run` in a subprocess, until /healthz answers."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("TORCHTUTOR_")}
    full_env.update(env, TORCHTUTOR_PORT=str(port), PYTHONPATH=str(REPO))
    process = subprocess.Popen([sys.executable, "-m", "bot.cli.main", "run"], env=full_env, cwd=cwd,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"run exited with {process.returncode}: {process.stderr.read()}")  # type: ignore
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(healthy, timeout=90, what="torchtutor run")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def test_socket_mode_through_torchtutor_run(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path}/socket.db"
    upgrade(database_url)
    with FakeSlack() as fake:
        fake.add_user("U2147483697", "Steve")
        env = {"TORCHTUTOR_DATABASE_URL": database_url, "TORCHTUTOR_CACHE_DIR": str(tmp_path / "cache"),
               "TORCHTUTOR_SLACK_BOT_TOKEN": "xoxb-test-token", "TORCHTUTOR_SLACK_APP_TOKEN": fake.app_token,
               "TORCHTUTOR_SLACK_API_URL": fake.api_url}
        with running(env, tmp_path):
            wait_until(lambda: fake.socket_connected, what="the Socket Mode connection")
            assert fake.calls_to("apps.connections.open")[0].token == fake.app_token
            fields = slash_fields("/ask", TENSOR_QUESTION, channel="CSOCKET", response_url=fake.response_url())
            sent = time.monotonic()
            envelope = fake.send_envelope("slash_commands", fields)
            ack = wait_until(lambda: fake.acks(envelope), what="the envelope's ack")[0]
            assert ack["_at"] - sent < 3.0
            answer = wait_until(lambda: posted_in(fake, "CSOCKET"), what="the answer over Socket Mode")[0]
            assert answer["blocks"][1]["type"] == "header"

            event = mention_event(f"<@UBOT> {TENSOR_QUESTION}", channel="CSOCKEV", event_id="EvSock1", ts="1.000001")
            first = fake.send_envelope("events_api", event)
            again = fake.send_envelope("events_api", event, retry_attempt=1)
            wait_until(lambda: fake.acks(first) and fake.acks(again), what="both deliveries acknowledged")
            wait_until(lambda: posted_in(fake, "CSOCKEV"), what="the mention's answer")
            marker = mention_event(f"<@UBOT> {TENSOR_QUESTION}", channel="CSOCKMK", event_id="EvSock2", ts="2.1")
            fake.send_envelope("events_api", marker)
            wait_until(lambda: posted_in(fake, "CSOCKMK"), what="a later event's answer")
            assert len(posted_in(fake, "CSOCKEV")) == 1


# ----- in-process, with a test Tutor: a slow command, and a job that streams progress, a result and an image

class FakeJobs:
    """A stand-in for the demo feature: a first reply with Cancel, progress edits every 0.1 s, then the result."""

    def __init__(self, steps: int = 12, first_delay: float = 0.0) -> None:
        self.steps = steps
        self.first_delay = first_delay
        self.cancelled: list[Request] = []
        self.requests: list[Request] = []
        self.first_id: str | None = None

    async def demo(self, request: Request) -> AsyncIterator[Reply]:
        self.requests.append(request)
        await asyncio.sleep(self.first_delay)
        first = Reply(f"Queued `{request.text}`", title="Demo: linear regression", kind="job",
                      buttons=(Button("job:cancel:42", "Cancel", style="danger"),))
        self.first_id = first.id
        yield first
        for step in range(1, self.steps + 1):
            await asyncio.sleep(0.1)
            if self.cancelled:
                return
            yield first.edit(text=f"Training… {step * 100 // self.steps}%")
        yield first.edit(text="Finished on cpu.\n```python\nmodel = torch.nn.Linear(1, 1)\n```", buttons=(),
                         fields=(("final loss", "0.0123"), ("epochs", "20")), images=(Image(PNG, "loss.png"),),
                         kind="job_result")

    async def cancel(self, request: Request) -> Reply:
        self.cancelled.append(request)
        return Reply("Cancelled.", edits=self.first_id, kind="job_result")


@pytest.fixture
async def inprocess(migrated: Settings) -> AsyncIterator[tuple[SlackAdapter, FakeJobs, FakeSlack, httpx.AsyncClient]]:
    with FakeSlack() as fake:
        fake.add_user("U2147483697", "Steve", admin=True)
        settings = Settings(database_url=migrated.database_url, slack_bot_token="xoxb-test-token",
                            slack_signing_secret=SECRET, slack_api_url=fake.api_url, slack_command_prefix=PREFIX)
        jobs = FakeJobs(first_delay=3.2)
        tutor = Tutor()
        tutor.command("demo", jobs.demo)
        tutor.action("job", jobs.cancel)
        database = Database.from_url(settings.database_url)
        adapter = SlackAdapter(tutor=tutor, settings=settings, database=database, pacer=EditPacer(min_interval=1.0))
        app = FastAPI()

        @app.post("/slack/events")
        async def events(request: HttpRequest):  # type: ignore[no-untyped-def]
            return await adapter.handler.handle(request)

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://slack.test") as client:
            yield adapter, jobs, fake, client
            await adapter.aclose(timeout=10)
        database.dispose()


async def _signed(client: httpx.AsyncClient, body: str, content_type: str = FORM) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await client.post("/slack/events", content=body,
                                 headers={"Content-Type": content_type, **sign(SECRET, body)})
    return response, time.monotonic() - started


async def _until(check, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return result


async def test_a_slow_job_is_acknowledged_then_updated_throttled_then_finished_with_an_upload(inprocess) -> None:  # type: ignore[no-untyped-def]
    adapter, jobs, fake, client = inprocess
    body = form_body(slash_fields("/tt-demo", "linear-regression", channel="CJOB", response_url=fake.response_url()))
    response, took = await _signed(client, body)
    assert response.status_code == 200 and took < 1.0, f"ack took {took:.2f}s though the command needs 3.2 s"
    first = (await _until(lambda: posted_in(fake, "CJOB")))[0]
    asker = jobs.requests[0]
    assert asker.command == "demo" and asker.text == "linear-regression" and asker.workspace_id == TEAM
    assert asker.user == Person("U2147483697", "Steve", is_admin=True, can_manage_channel=True), \
        "users.info gives the name and admin flag"
    cancel = [e for b in first["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert cancel == [{"type": "button", "action_id": "tt:0", "value": "job:cancel:42", "style": "danger",
                       "text": {"type": "plain_text", "text": "Cancel", "emoji": True}}]
    await adapter.drain()

    ts = fake.message_ts("CJOB")[0]
    updates = [c for c in fake.calls_to("chat.update") if c.args["ts"] == ts]
    assert 2 <= len(updates) <= 4, f"{jobs.steps + 1} edits in ~1.3 s must be coalesced, got {len(updates)} updates"
    gaps = [b.at - a.at for a, b in zip(updates, updates[1:], strict=False)]
    assert all(gap >= 0.95 for gap in gaps), f"updates of one message at most ~1/s: {gaps}"
    final = updates[-1].args
    shown = all_text(final["blocks"])
    assert "Finished on cpu" in shown and "final loss" in shown and "0.0123" in shown
    assert "```\nmodel = torch.nn.Linear(1, 1)\n```" in shown.replace("\\n", "\n")
    assert "job:cancel" not in shown and "loss.png in the thread" in shown
    assert check_blocks(final["blocks"], limit=50) == []

    complete = fake.calls_to("files.completeUploadExternal")
    assert len(complete) == 1 and complete[0].args["channel_id"] == "CJOB" and complete[0].args["thread_ts"] == ts
    file_id = json.loads(complete[0].args["files"])[0]["id"]
    assert fake.uploads[file_id] == PNG


async def test_cancel_is_routed_and_edits_the_pressed_message(inprocess) -> None:  # type: ignore[no-untyped-def]
    adapter, jobs, fake, client = inprocess
    jobs.first_delay, jobs.steps = 0.0, 30
    await _signed(client, form_body(slash_fields("/tt-demo", "x", channel="CCANCEL", response_url=fake.response_url())))
    first = (await _until(lambda: posted_in(fake, "CCANCEL")))[0]
    ts = fake.message_ts("CCANCEL")[0]
    press = button_body("job:cancel:42", message={"ts": ts, "blocks": first["blocks"]}, channel="CCANCEL",
                        response_url=fake.response_url(), block_id=block_of_value(first["blocks"], "job:cancel:42"))
    response, took = await _signed(client, press)
    assert response.status_code == 200 and took < 1.0
    await _until(lambda: jobs.cancelled)
    pressed_by = jobs.cancelled[0]
    assert pressed_by.action == "job:cancel:42" and pressed_by.platform == "slack"
    assert pressed_by.user.platform_id == "UA8RXUSPL" and pressed_by.workspace_id == TEAM
    cancelled = await _until(lambda: [c for c in fake.calls_to("chat.update")
                                      if c.args["ts"] == ts and "Cancelled." in all_text(c.args["blocks"])])
    assert "Steve" in all_text(cancelled[0].args["blocks"]), "the update keeps the message's echo line"


async def test_a_taken_event_id_is_taken_for_every_process(inprocess) -> None:  # type: ignore[no-untyped-def]
    adapter, _, _, client = inprocess
    event = json.dumps(mention_event("<@UBOT> /help", channel="CDUP", event_id="EvTwice", ts="3.000001"))
    assert (await _signed(client, event, "application/json"))[0].status_code == 200
    await adapter.drain()  # the claim is committed by the work that follows the ack
    elsewhere = Database.from_url(adapter.settings.database_url)  # another process's connection
    try:
        with elsewhere.transaction() as session:
            assert not slack_db.claim_event(session=session, event_id="EvTwice")
            assert slack_db.claim_event(session=session, event_id="EvOther")
    finally:
        elsewhere.dispose()


# ----- rendering

def test_mrkdwn_escapes_what_slack_would_parse() -> None:
    shown = to_mrkdwn("<!channel> & <@U1> @here **bold** *it* `<code>` [docs](https://pytorch.org/?a=1&b=2) "
                      "[x](javascript:alert(1))\n# Heading\n- item\n```python\nx = a < b\n```")
    assert "&lt;!channel&gt;" in shown and "&amp;" in shown and "&lt;@U1&gt;" in shown
    assert "@\u200bhere" in shown and "*bold*" in shown and "_it_" in shown and "`&lt;code&gt;`" in shown
    assert "<https://pytorch.org/?a=1&amp;b=2|docs>" in shown and "<javascript" not in shown
    assert "*Heading*" in shown and "• item" in shown and "```\nx = a &lt; b\n```" in shown


def test_an_answer_links_the_docs_it_cites_beside_its_source() -> None:
    docs = (("torch.cat", "https://docs.pytorch.org/docs/stable/generated/torch.cat.html"),
            ("torch.Tensor.to", "https://docs.pytorch.org/docs/stable/generated/torch.Tensor.to.html"))
    blocks = render_blocks(Reply("Use `cat`.", title="Join?", citation="join (tensors.md)", docs=docs))
    [context] = [b for b in blocks if b["type"] == "context"]
    assert context["elements"][0]["text"] == (
        "Source: join (tensors.md)  ·  "
        "Docs: <https://docs.pytorch.org/docs/stable/generated/torch.cat.html|torch.cat>, "
        "<https://docs.pytorch.org/docs/stable/generated/torch.Tensor.to.html|torch.Tensor.to>")
    assert check_blocks(blocks, limit=50) == []


def test_long_replies_fit_slacks_limits() -> None:
    code = "```python\n" + "\n".join(f"print({n})  # " + "x" * 60 for n in range(200)) + "\n```"
    text = "\n\n".join(["A paragraph " + "word " * 120] * 250) + "\n" + code
    chunks = split_mrkdwn(to_mrkdwn(text))
    assert all(len(chunk) <= 3000 for chunk in chunks)
    assert all(chunk.count("```") % 2 == 0 for chunk in chunks), "every chunk opens and closes its code"
    buttons = tuple(Button(f"ask:entry:{n}", "A very long related question label " * 4) for n in range(60))
    reply = Reply(text, title="T" * 400, citation="entry (doc.md)", buttons=buttons,
                  fields=tuple((f"metric {n}", str(n)) for n in range(14)))
    blocks = render_blocks(reply)
    assert len(blocks) <= 50 and check_blocks(blocks, limit=50) == []
    assert blocks[-1]["type"] == "actions" and any("cut short" in all_text([b]) for b in blocks)


# ----- translation

def test_slash_commands_mentions_and_messages_become_neutral_requests() -> None:
    from bot.adapters.slack.translate import from_command, from_message

    fields = slash_fields("/tt-stats", "<@U0LAN0Z89|river>", channel="C1", response_url="https://hooks.example/1")
    request = from_command(fields, PREFIX)
    assert (request.platform, request.command, request.text) == ("slack", "stats", "<@U0LAN0Z89>")
    assert (request.workspace_id, request.channel_id, request.user.platform_id) == (TEAM, "C1", "U2147483697")
    assert request.handle.response_url == "https://hooks.example/1" and not request.is_direct

    mention = from_message(mention_event("<@UBOT> <@UBOT>: what is a tensor?", channel="C2", event_id="E1", ts="5.1"),
                           accepts_free_text=True)
    assert mention is not None and (mention.command, mention.text) == ("ask", "what is a tensor?")
    assert mention.handle.thread_ts == "5.1"
    in_thread = mention_event("/quiz tensors", channel="C2", event_id="E2", ts="5.2", thread_ts="5.0")
    assert (from_message(in_thread, accepts_free_text=True).command, ) == ("quiz", )  # type: ignore[union-attr]

    def dm(text: str, **extra: Any) -> Request | None:
        event = mention_event(text, channel="D1", event_id="E3", ts="6.2", kind="message", channel_type="im", **extra)
        return from_message(event, accepts_free_text=True)

    assert dm("what is autograd").command == "ask" and dm("what is autograd").is_direct  # type: ignore[union-attr]
    assert dm("42", thread_ts="6.0").command == ""  # type: ignore[union-attr]  # a reply to the bot's prompt
    assert dm("edited", subtype="message_changed") is None and dm("mine", bot_id="BBOT") is None
    channel_message = mention_event("hi", channel="C9", event_id="E4", ts="7.1", kind="message", channel_type="channel")
    assert from_message(channel_message, accepts_free_text=False) is None


async def test_app_home_shows_the_core_stats_and_quick_actions_run_commands(inprocess) -> None:  # type: ignore[no-untyped-def]
    adapter, _, fake, client = inprocess

    async def stats(request: Request) -> Reply:
        return Reply("You have 3 items due.", title="Your progress", fields=(("accuracy", "80%"), ("streak", "4")),
                     kind="stats")

    adapter.tutor.command("stats", stats)
    opened = mention_event("", channel="DHOME", event_id="EvHome2", ts="8.1", kind="app_home_opened", tab="home",
                           user="U2147483697")
    await _signed(client, json.dumps(opened), "application/json")
    view = (await _until(lambda: fake.calls_to("views.publish")))[0].args["view"]
    shown = all_text(view["blocks"])
    assert "Your progress" in shown and "80%" in shown and "3 items due" in shown
    assert {"slack-command:stats", "slack-command:help"} <= set(block_values(view["blocks"]))

    payload = json.loads((PAYLOADS / "block_actions_button.json").read_text())
    for key in ("channel", "message", "response_url"):
        payload.pop(key)
    payload["team"]["id"] = TEAM
    payload["container"] = {"type": "view", "view_id": "V1"}
    payload["view"] = {"id": "V1", "type": "home", "private_metadata": view["private_metadata"]}
    payload["actions"][0].update(action_id="tt:0", block_id="tt:home:q0", value="slack-command:stats")
    response, took = await _signed(client, urlencode({"payload": json.dumps(payload)}))
    assert response.status_code == 200 and took < 1.0
    posted = (await _until(lambda: posted_in(fake, "DHOME")))[0]
    assert "80%" in all_text(posted["blocks"]) and posted.get("thread_ts") is None


def test_the_pacer_spaces_updates_by_how_many_messages_a_workspace_is_updating() -> None:
    pacer = EditPacer(min_interval=1.0, per_minute=50)
    assert pacer.interval(TEAM) == 1.0
    for _ in range(5):
        pacer.enter(TEAM)
    assert pacer.interval(TEAM) == pytest.approx(6.0) and pacer.interval("T0002") == 1.0
    for _ in range(5):
        pacer.leave(TEAM)
    assert pacer.interval(TEAM) == 1.0


@pytest.mark.parametrize("mode", MODES)
def test_the_manifest_files_are_up_to_date_and_match_the_app(mode: Mode) -> None:
    path = REPO / "deploy" / "slack" / file_name(mode)
    assert path.read_text(encoding="utf-8") == manifest_yaml(mode), "run `make slack-manifests`"
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    commands = manifest["features"]["slash_commands"]
    assert [c["command"] for c in commands] == slash_commands("") == [f"/{spec.name}" for spec in CATALOGUE]
    assert [c["description"] for c in commands] == [spec.summary for spec in CATALOGUE]
    assert [c["should_escape"] for c in commands] == [spec.name == "stats" for spec in CATALOGUE]
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == set(BOT_SCOPES)
    assert [s["callback_id"] for s in manifest["features"]["shortcuts"]] == ["run_snippet", "ask_message"]
    assert {s["type"] for s in manifest["features"]["shortcuts"]} == {"message"}
    events = manifest["settings"]["event_subscriptions"]
    assert set(events["bot_events"]) == {"app_mention", "message.im", "message.channels", "message.groups",
                                         "app_home_opened"}
    assert {"channels:history", "groups:history", "chat:write"} <= set(BOT_SCOPES)
    urls = [c.get("url") for c in commands] + [events.get("request_url"),
                                               manifest["settings"]["interactivity"].get("request_url")]
    if mode == "http":
        assert set(urls) == {"https://bot.example.com/slack/events"} and not manifest["settings"]["socket_mode_enabled"]
    else:
        assert set(urls) == {None} and manifest["settings"]["socket_mode_enabled"]
        assert "redirect_urls" not in manifest["oauth_config"]


def test_the_manifest_command_writes_both_files_for_a_host_and_prefix(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "bot.adapters.slack.manifest", "--write", str(tmp_path),
                             "--host", "tt.example.org", "--prefix", PREFIX], capture_output=True, text=True,
                            cwd=REPO, timeout=120, check=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.http.yaml", "manifest.socket.yaml"]
    assert result.stdout.count("wrote ") == 2
    http = yaml.safe_load((tmp_path / "manifest.http.yaml").read_text(encoding="utf-8"))
    assert http["features"]["slash_commands"][0] == {
        "command": "/tt-ask", "url": "https://tt.example.org/slack/events", "description": BY_NAME["ask"].summary,
        "usage_hint": "QUESTION", "should_escape": False}


async def test_slack_handles_exactly_the_catalogue_commands(migrated: Settings) -> None:
    recorded: list[Request] = []

    async def record(request: Request) -> Reply:
        recorded.append(request)
        return Reply(f"got {request.command}", ephemeral=True)

    tutor = Tutor()
    for spec in CATALOGUE:
        tutor.command(spec.name, record)
    with FakeSlack() as fake:
        settings = Settings(database_url=migrated.database_url, slack_bot_token="xoxb-test-token",
                            slack_signing_secret=SECRET, slack_api_url=fake.api_url, slack_command_prefix=PREFIX)
        database = Database.from_url(settings.database_url)
        adapter = SlackAdapter(tutor=tutor, settings=settings, database=database)
        app = FastAPI()

        @app.post("/slack/events")
        async def events(request: HttpRequest):  # type: ignore[no-untyped-def]
            return await adapter.handler.handle(request)

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://slack.test") as client:
            for spec in CATALOGUE:
                body = form_body(slash_fields(f"/{PREFIX}{spec.name}", "x", channel="CCAT",
                                              response_url=fake.response_url(spec.name)))
                assert (await _signed(client, body))[0].status_code == 200, spec.name
            unknown = form_body(slash_fields(f"/{PREFIX}unknown", "x", channel="CCAT",
                                             response_url=fake.response_url("unknown")))
            assert (await _signed(client, unknown))[0].status_code == 404  # no listener: Bolt answers 404
            await _until(lambda: len(recorded) == len(CATALOGUE))
            await adapter.aclose(timeout=10)
        database.dispose()
    assert sorted(r.command for r in recorded) == sorted(NAMES)


# ----- the real quiz, study and demo features, in-process, on the loopback Slack

STEVE = "U2147483697"
CHOICE_ITEM = "dynamic-graph-when-built"  # a choice question; its right answer is shown under a shuffled letter
CHOICE_RIGHT = "On the fly, while the forward pass runs, anew for each input"


@pytest.fixture
async def real(runtime) -> AsyncIterator[tuple[Any, SlackAdapter, FakeSlack, httpx.AsyncClient]]:  # type: ignore[no-untyped-def]
    """The real runtime behind the Slack adapter (single bot token), its channel poster registered."""
    with FakeSlack() as fake:
        fake.add_user(STEVE, "Steve", admin=True)
        fake.add_user("UA8RXUSPL", "River")
        settings = runtime.settings.model_copy(update={
            "slack_bot_token": SecretStr("xoxb-test-token"), "slack_signing_secret": SecretStr(SECRET),
            "slack_api_url": fake.api_url,
            "slack_command_prefix": PREFIX})
        adapter = SlackAdapter(tutor=runtime.tutor, settings=settings, database=runtime.database,
                               pacer=EditPacer(min_interval=0.5), outbox=runtime.outbox)
        app = FastAPI()

        @app.post("/slack/events")
        async def events(request: HttpRequest):  # type: ignore[no-untyped-def]
            return await adapter.handler.handle(request)

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://slack.test") as client:
            yield runtime, adapter, fake, client
            await adapter.aclose(timeout=10)


def press_as(body: str, user_id: str) -> str:
    """A button press body (from `button_body`) made by another user."""
    payload = json.loads(dict(parse_qsl(body))["payload"])
    payload["user"].update(id=user_id, username=user_id.lower())
    return urlencode({"payload": json.dumps(payload)})


async def test_a_study_channel_gets_its_question_by_post_message_and_counts_a_press(real) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select, update

    from bot.db.base import utcnow
    from bot.db.quiz_models import QuizAttempt, StudySchedule

    runtime, adapter, fake, client = real
    assert "slack" in runtime.outbox.platforms  # registered when the adapter is built
    started = fake.response_url("study-start")
    await _signed(client, form_body(slash_fields("/tt-study", "start every 1h", channel="CSTUDY",
                                                 response_url=started)))
    await _until(lambda: posted_in(fake, "CSTUDY") or fake.hooks_to("study-start"))
    await adapter.drain()
    before = len(posted_in(fake, "CSTUDY"))
    with runtime.database.transaction() as session:  # the hour has passed
        session.execute(update(StudySchedule).values(next_fire_at=utcnow() - timedelta(seconds=1)))
    [posted] = await runtime.quizzes.study.study_tick()
    assert (posted.platform, posted.workspace_id, posted.channel_id) == ("slack", TEAM, "CSTUDY")

    calls = [c for c in fake.calls_to("chat.postMessage") if c.args.get("channel") == "CSTUDY"]
    assert len(calls) == before + 1
    question = calls[-1]
    assert question.token == "xoxb-test-token"
    assert "Study question" in all_text(question.args["blocks"])
    assert check_blocks(question.args["blocks"], limit=50) == []
    choices = [v for v in block_values(question.args["blocks"]) if v.startswith("quiz:answer:")]
    assert choices
    ts = fake.message_ts("CSTUDY")[-1]
    answered = fake.response_url("study-answer")
    press = button_body(choices[0], message={"ts": ts, "blocks": question.args["blocks"]}, channel="CSTUDY",
                        response_url=answered, block_id=block_of_value(question.args["blocks"], choices[0]))
    response, took = await _signed(client, press)  # pressed by UA8RXUSPL, not by Steve who started it
    assert response.status_code == 200 and took < 1.0
    [hook] = await _until(lambda: fake.hooks_to("study-answer"))
    assert hook.body["response_type"] == "ephemeral" and "Got it: you answered" in all_text(hook.body["blocks"])
    await adapter.drain()
    with runtime.database.session() as session:
        [attempt] = session.scalars(select(QuizAttempt)).all()
        assert attempt.slot == 0 and attempt.mode == "study"
    await adapter.aclose(timeout=10)
    assert "slack" not in runtime.outbox.platforms  # unregistered on close


async def test_study_scheduling_needs_an_admin_or_the_allow_list_and_topics_come_as_a_select(real) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from bot.db.quiz_models import StudySchedule

    runtime, adapter, fake, client = real
    river = "UA8RXUSPL"  # a member, not an admin or owner
    refused = fake.response_url("river-study")
    fields = slash_fields("/tt-study", "start every 6h", channel="CRIVER", response_url=refused)
    await _signed(client, form_body({**fields, "user_id": river, "user_name": "river"}))
    [hook] = await _until(lambda: fake.hooks_to("river-study"))
    await adapter.drain()
    assert hook.body["response_type"] == "ephemeral"  # River alone sees it, in the channel he typed in
    assert "Only workspace admins and owners, and the people the bot's operator allows" in all_text(hook.body["blocks"])
    with runtime.database.session() as session:
        assert session.scalars(select(StudySchedule)).all() == []

    # TORCHTUTOR_SLACK_CHANNEL_ADMINS lets him; what users.info said is cached, so the cache is built anew.
    allowed = runtime.settings.model_copy(update={"slack_channel_admins": river})
    adapter.people = type(adapter.people)(channel_admins=allowed.slack_channel_admin_ids)
    ok = fake.response_url("river-study-2")
    await _signed(client, form_body({**slash_fields("/tt-study", "start every 6h", channel="CRIVER", response_url=ok),
                                     "user_id": river, "user_name": "river"}))
    await _until(lambda: posted_in(fake, "CRIVER") or fake.hooks_to("river-study-2"))
    await adapter.drain()
    with runtime.database.session() as session:
        assert [row.spec for row in session.scalars(select(StudySchedule))] == ["every 6 hours"]

    # /quiz topics: a select menu; choosing a topic starts a quiz on it.
    listed = fake.response_url("topics")
    await _signed(client, form_body(slash_fields("/tt-quiz", "topics", channel="CQUIZ", response_url=listed)))
    [hook] = await _until(lambda: fake.hooks_to("topics"))
    await adapter.drain()
    blocks = hook.body["blocks"]
    assert check_blocks(blocks, limit=50) == []
    [menu] = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert menu["type"] == "static_select"
    topics = runtime.quizzes.bank.snapshot().topics
    assert [o["value"] for o in menu["options"]] == [*(f"quiz:topic:{t}" for t in topics), "quiz:topic:"]
    chose = json.loads(dict(parse_qsl(button_body("unused", message={"ts": "1.000002", "blocks": blocks},
                                                  channel="CQUIZ", ephemeral=True,
                                                  response_url=fake.response_url("chose"),
                                                  block_id=next(b["block_id"] for b in blocks
                                                                if b["type"] == "actions"))))["payload"])
    chosen = next(o for o in menu["options"] if o["value"] == "quiz:topic:tensors")
    chose["actions"][0] = {"type": "static_select", "action_id": menu["action_id"],
                           "block_id": chose["actions"][0]["block_id"], "selected_option": chosen,
                           "action_ts": "1548426417.840180"}
    await _signed(client, urlencode({"payload": json.dumps(chose)}))
    [quiz] = await _until(lambda: fake.hooks_to("chose"))
    await adapter.drain()
    assert "· tensors" in str(quiz.body.get("text"))


async def test_a_real_quiz_choice_is_graded_for_its_owner_and_refused_to_others(real) -> None:  # type: ignore[no-untyped-def]
    runtime, adapter, fake, client = real
    bank = runtime.quizzes.bank
    runtime.quizzes.quiz.pick = lambda pool, count, **_: [bank.snapshot().get(CHOICE_ITEM)]
    asked = fake.response_url("quiz")
    await _signed(client, form_body(slash_fields("/tt-quiz", "", channel="CQUIZ", response_url=asked)))
    [hook] = await _until(lambda: fake.hooks_to("quiz"))
    assert hook.body["response_type"] == "ephemeral"  # personal: only the person who asked sees it
    blocks = hook.body["blocks"]
    # The button a person would press: the one whose label shows the right answer, wherever it was shuffled to.
    first, letter = next((e["value"], e["text"]["text"][0]) for b in blocks if b["type"] == "actions"
                         for e in b["elements"] if e["text"]["text"].endswith(f") {CHOICE_RIGHT}"))

    def press(key: str) -> str:
        return button_body(first, message={"ts": "1.000001", "blocks": blocks}, channel="CQUIZ", ephemeral=True,
                           response_url=fake.response_url(key), block_id=block_of_value(blocks, first))

    await _signed(client, press("other"))  # the payload's user, not the quiz's owner
    [refusal] = await _until(lambda: fake.hooks_to("other"))
    assert "only they can answer" in all_text(refusal.body["blocks"]) and "Steve" in all_text(refusal.body["blocks"])
    await _signed(client, press_as(press("owner"), STEVE))
    graded = await _until(lambda: [h for h in fake.hooks_to("owner") if "Answer 1 of 1" in str(h.body.get("text"))])
    await adapter.drain()
    assert len(graded) == 1 and "✅" in graded[0].body["text"]
    assert f"{letter}) {CHOICE_RIGHT}" in all_text(graded[0].body["blocks"]).replace("*", "")  # the letter shown
    assert check_blocks(graded[0].body["blocks"], limit=50) == []
    assert graded[0].body.get("response_type", "ephemeral") == "ephemeral"
    await adapter.drain()
    from sqlalchemy import select

    from bot.db.quiz_models import QuizAttempt

    with runtime.database.session() as session:
        [attempt] = session.scalars(select(QuizAttempt)).all()
        assert (attempt.item_id, attempt.correct) == (CHOICE_ITEM, True)


async def test_real_demos_update_their_message_then_upload_the_plot_into_the_thread(real) -> None:  # type: ignore[no-untyped-def]
    runtime, adapter, fake, client = real
    runtime.demos.edit_interval = 0.2
    runtime.start_workers()
    for channel, text in (("CBACK", "backward-pass"), ("CTINY", "train-tiny steps=30")):
        await _signed(client, form_body(slash_fields("/tt-demo", text, channel=channel,
                                                     response_url=fake.response_url())))
        await _until(lambda channel=channel: [c for c in fake.calls_to("chat.update")
                                              if c.args["channel"] == channel and "The code that ran"
                                              in all_text(c.args["blocks"])], timeout=90)
        await adapter.drain()
        [ts] = fake.message_ts(channel)
        updates = [c for c in fake.calls_to("chat.update") if c.args["ts"] == ts]
        assert len(updates) >= 1 and "The code that ran" in all_text(updates[-1].args["blocks"])
        assert sum("The code that ran" in all_text(u.args["blocks"]) for u in updates) == 1, "one result, last"
        assert all(check_blocks(u.args["blocks"], limit=50) == [] for u in updates)
        uploads = [c for c in fake.calls_to("files.completeUploadExternal") if c.args["channel_id"] == channel]
        if channel == "CBACK":
            assert uploads == []  # backward-pass draws no plot
            continue
        [upload] = uploads
        assert upload.args["thread_ts"] == ts
        file_id = json.loads(upload.args["files"])[0]["id"]
        assert fake.uploads[file_id].startswith(b"\x89PNG")


async def test_the_channel_poster_uses_the_installation_of_the_workspace(migrated: Settings) -> None:
    from bot.core.outbox import Outbox as CoreOutbox

    with FakeSlack() as fake:
        fake.teams.append(Team("T0002", "Other", "xoxb-other-token", "UBOT2", "BBOT2"))
        settings = Settings(database_url=migrated.database_url, slack_bot_token="xoxb-test-token",
                            slack_signing_secret=SECRET, slack_api_url=fake.api_url, slack_command_prefix=PREFIX,
                            slack_client_id=fake.client_id, slack_client_secret=fake.client_secret)
        database = Database.from_url(settings.database_url)
        outbox = CoreOutbox()
        adapter = SlackAdapter(tutor=Tutor(), settings=settings, database=database, outbox=outbox)
        try:
            from slack_sdk.oauth.installation_store import Installation

            store = adapter.app.installation_store
            assert store is not None
            await store.async_save(Installation(app_id="A0001", team_id="T0002", user_id="UINSTALLER",
                                                bot_token="xoxb-other-token", bot_id="BBOT2", bot_user_id="UBOT2"))
            reply = Reply("Run /quiz to practise.", title="Study question", buttons=(Button("quiz:answer:1:0:1", "A"),))
            assert await outbox.post("slack", "T0002", "COTHER", reply)  # installed through OAuth
            assert await outbox.post("slack", TEAM, "CMAIN", reply)  # the single-workspace token
            assert not await outbox.post("slack", "T0404", "CNONE", reply)  # not installed there: logged, dropped
            posts = {c.args["channel"]: c for c in fake.calls_to("chat.postMessage")}
            assert posts["COTHER"].token == "xoxb-other-token" and posts["CMAIN"].token == "xoxb-test-token"
            assert "/tt-quiz" in all_text(posts["COTHER"].args["blocks"])
            assert block_values(posts["CMAIN"].args["blocks"]) == ["quiz:answer:1:0:1"]
            assert "CNONE" not in posts
        finally:
            await adapter.aclose(timeout=5)
            database.dispose()
        assert outbox.platforms == frozenset()
