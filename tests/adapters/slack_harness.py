"""Slack in the shared contract: signed requests in Slack's documented shapes into the real Bolt app,
everything Slack would show read back from the loopback Web API (messages, ephemerals, response_url posts)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi import Request as HttpRequest
from pydantic import SecretStr

from bot.adapters.slack import SlackAdapter
from bot.adapters.slack.delivery import EditPacer
from bot.adapters.slack.translate import PLATFORM
from bot.config import Settings
from bot.core.outbox import Outbox
from bot.db.engine import Database
from tests.adapters.contract import ContractTutor, Shown, until
from tests.adapters.test_slack import PREFIX, SECRET, TEAM, block_of_value, button_body, slash_fields
from tests.fakes.slack_api import FakeSlack, form_body, sign

HOOK = "contract"


class SlackHarness:
    platform = PLATFORM
    workspace_id = TEAM
    channel_id = "CCONTRACT"

    def __init__(self, fake: FakeSlack, client: httpx.AsyncClient, tutor: ContractTutor, outbox: Outbox) -> None:
        self.fake, self.client, self.tutor, self.outbox = fake, client, tutor, outbox

    async def command(self, name: str, text: str) -> None:
        fields = slash_fields(f"/{PREFIX}{name}", text, channel=self.channel_id,
                              response_url=self.fake.response_url(HOOK))
        await self._signed(form_body(fields))

    async def press(self, action: str) -> None:
        ts, blocks = await until(lambda: next(((ts, m["blocks"]) for ts, m in reversed(self._posted())
                                               if action in _buttons(m["blocks"])), None))
        await self._signed(button_body(action, message={"ts": ts, "blocks": blocks}, channel=self.channel_id,
                                       response_url=self.fake.response_url(HOOK),
                                       block_id=block_of_value(blocks, action)))

    def shown(self) -> list[Shown]:
        posted = [Shown(_text(m["blocks"]), _buttons(m["blocks"])) for _, m in self._posted()]
        private = [Shown(_text(c.args.get("blocks") or []) or str(c.args.get("text")))
                   for c in self.fake.calls_to("chat.postEphemeral") if c.args.get("channel") == self.channel_id]
        hooks = [Shown(_text(h.body.get("blocks") or []) or str(h.body.get("text")))
                 for h in self.fake.hooks_to(HOOK)]
        return posted + private + hooks

    def _posted(self) -> list[tuple[str, dict[str, Any]]]:
        return [(ts, self.fake.messages[(self.channel_id, ts)]) for ts in self.fake.message_ts(self.channel_id)]

    async def _signed(self, body: str) -> None:
        response = await self.client.post("/slack/events", content=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", **sign(SECRET, body)})
        assert response.status_code == 200, response.text


def _blocks(blocks: Any) -> list[dict[str, Any]]:
    return json.loads(blocks) if isinstance(blocks, str) else list(blocks or [])


def _text(blocks: Any) -> str:
    """The message's words: its sections and headers (not the context line naming who asked, nor buttons)."""
    lines = []
    for block in _blocks(blocks):
        text = block.get("text")
        if block.get("type") in {"section", "header"} and isinstance(text, dict):
            lines.append(str(text.get("text", "")))
        lines += [f"{f.get('text', '')}" for f in block.get("fields") or []]
    return "\n".join(line for line in lines if line)


def _buttons(blocks: Any) -> tuple[str, ...]:
    return tuple(e["value"] for b in _blocks(blocks) if b.get("type") == "actions" for e in b["elements"]
                 if "value" in e)


@contextlib.asynccontextmanager
async def slack_harness(request: pytest.FixtureRequest) -> AsyncIterator[SlackHarness]:
    migrated: Settings = request.getfixturevalue("migrated")
    tutor, outbox = ContractTutor(), Outbox()
    with FakeSlack() as fake:
        fake.add_user("U2147483697", "Steve", admin=True)
        settings = Settings(database_url=migrated.database_url, slack_bot_token=SecretStr("xoxb-test-token"),
                            slack_signing_secret=SecretStr(SECRET), slack_api_url=fake.api_url,
                            slack_command_prefix=PREFIX)
        database = Database.from_url(settings.database_url)
        adapter = SlackAdapter(tutor=tutor, settings=settings, database=database, outbox=outbox,
                               pacer=EditPacer(min_interval=0.2))
        app = FastAPI()

        @app.post("/slack/events")
        async def events(http: HttpRequest):  # type: ignore[no-untyped-def]
            return await adapter.handler.handle(http)

        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://slack.test") as client:
                yield SlackHarness(fake, client, tutor, outbox)
        finally:
            await adapter.aclose(timeout=10)
            database.dispose()
