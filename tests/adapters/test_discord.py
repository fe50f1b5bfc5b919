"""The Discord adapter, driven through the real discord.py client against the loopback Discord.

Every assertion is about what reached the wire (REST requests and gateway frames the fake recorded).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route
from pydantic import SecretStr

from bot.adapters.discord import TorchtutorDiscord
from bot.core.commands import BY_NAME, CATALOGUE, Audience, OptionKind
from bot.core.conversation import Button, Image, Reply, Request
from bot.core.tutor import Tutor
from tests.fakes.discord_server import EPHEMERAL, LOADING, FakeDiscord, ManualClock, RecordedRequest, start_fake_discord
from workers.demos import list_demos

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
COMMANDS = {"ask", "demo", "run", "Run with torchtutor", "Ask torchtutor", "quiz", "review", "study", "autoanswer",
            "stats", "leaderboard", "help"}


# -- a test Tutor: slow answers, a streamed demo, buttons that record their presses -------------------------


class StubTutor(Tutor):
    """The real Tutor facade with test use cases registered: what the adapter must render, it gets."""

    def __init__(self, *, ask_delay: float = 0.0, progress_steps: int = 20, step_delay: float = 0.01) -> None:
        super().__init__()
        self.requests: list[Request] = []
        self.ask_delay = ask_delay
        self.progress_steps, self.step_delay = progress_steps, step_delay
        self.demo_gate = asyncio.Event()
        self.demo_gate.set()
        self.first_reply_id: str | None = None
        self.command("ask", self._ask)
        self.command("demo", self._demo)
        self.action("job", self._action)
        self.action("echo", self._action)
        self.action("feedback", self._action)

    async def _ask(self, request: Request) -> Reply:
        self.requests.append(request)
        if request.text == "long":
            return await self._long(request)
        await asyncio.sleep(self.ask_delay)
        buttons = (Button("ask:entry:tensors", "What is a tensor?"), Button("feedback:up:7", "👍 Helpful"))
        return Reply(f"@everyone {request.text} <@&123> <@456>", title="A question", citation="entry-1 (doc.md)",
                     buttons=buttons, kind="answer")

    async def _demo(self, request: Request) -> AsyncIterator[Reply]:
        self.requests.append(request)
        first = Reply("Queued.", title="Demo: train-tiny", buttons=(Button("job:cancel:j1", "Cancel", "danger"),))
        self.first_reply_id = first.id
        yield first
        for step in range(1, self.progress_steps + 1):
            if step == self.progress_steps // 2:
                await self.demo_gate.wait()
            await asyncio.sleep(self.step_delay)
            yield first.edit(text=f"Running: {100 * step // self.progress_steps}%")
        yield first.edit(text="Done.\n```python\nloss.backward()\n```", buttons=(), kind="job_result",
                         fields=(("final loss", "0.0123"), ("device", "cpu")), images=(Image(PNG, "loss curve.png"),))

    async def _long(self, request: Request) -> Reply:
        code = "\n".join(f"x{n} = torch.zeros({n})" for n in range(400))
        return Reply("Intro.\n\n```python\n" + code + "\n```\n\nThe end.", title="Long")

    async def _action(self, request: Request) -> Reply:
        self.requests.append(request)
        return Reply(f"pressed {request.action}", ephemeral=True)


# -- running the real client against the fake ----------------------------------------------------------------


async def until(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll `condition` against a deadline; returns its first truthy value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (result := condition()):
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.01)
    return result


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A started loopback Discord; afterwards discord.py points home again and nothing is left running."""
    saved = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    before = asyncio.all_tasks()
    async with start_fake_discord() as server:
        yield server
    assert (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY) == saved, "the client left discord.py pointed elsewhere"
    await until(lambda: not (asyncio.all_tasks() - before - {asyncio.current_task()}), timeout=5)


@contextlib.asynccontextmanager
async def running(fake: FakeDiscord, tutor: Tutor, **options: Any) -> AsyncIterator[TorchtutorDiscord]:
    """The adapter's client, logged in to the fake through its API URL, ready; closed afterwards."""
    options.setdefault("demos", list_demos())
    client = TorchtutorDiscord(tutor, api_url=fake.api_url, guild_ready_timeout=0.05, **options)
    runner = asyncio.create_task(client.start("fake-token"))
    try:
        await until(lambda: client.is_ready() or runner.done())
        if runner.done():
            runner.result()
        yield client
    finally:
        await client.close()
        await asyncio.wait_for(runner, 10)


def webhook(fake: FakeDiscord, token: str) -> str:
    """The path of an interaction's webhook (follow-ups: POST here; edits: PATCH under /messages/)."""
    return f"/webhooks/{fake.application_id}/{token}"


def message_writes(fake: FakeDiscord) -> list[RecordedRequest]:
    """Every request that created or edited a message."""
    return message_writes_in(fake.requests)


def message_writes_in(requests: list[RecordedRequest]) -> list[RecordedRequest]:
    """The requests among these that created or edited a message."""
    return [r for r in requests if r.method in {"POST", "PATCH"} and isinstance(r.json, dict)
            and ("/messages" in r.path or r.path.startswith("/webhooks/"))]


# -- start-up -----------------------------------------------------------------------------------------------


async def test_connects_through_the_api_url_and_syncs_every_command_globally(fake: FakeDiscord) -> None:
    async with running(fake, StubTutor()) as client:
        first = [(r.method, r.path) for r in fake.requests[:4]]
        assert first[:3] == [("GET", "/users/@me"), ("GET", "/oauth2/applications/@me"), ("GET", "/gateway/bot")]
        assert ("PUT", f"/applications/{fake.application_id}/commands") in [(r.method, r.path) for r in fake.requests]
        assert {c["name"] for c in fake.commands[None]} == COMMANDS
        demo = next(c for c in fake.commands[None] if c["name"] == "demo")
        name = next(o for o in demo["options"] if o["name"] == "name")
        assert [c["value"] for c in name["choices"]] == [d.name for d in list_demos()]
        assert [o["name"] for o in demo["options"]] == ["name", "params"]
        identify = await fake.wait_for_frame(lambda f: f.direction == "in" and f.op == 2)
        assert identify.d["shard"] == [0, 1]  # sharded client, one shard as /gateway/bot recommends
        assert identify.d["intents"] & (1 << 15) == 0  # no privileged message-content intent
        assert client.is_ready()


async def test_development_guild_sync(fake: FakeDiscord) -> None:
    async with running(fake, StubTutor(), guild_id=fake.guild_id):
        assert {c["name"] for c in fake.commands[fake.guild_id]} == COMMANDS
        assert None not in fake.commands


# -- answering: acknowledge first, then the reply, with no mention able to ping ------------------------------


async def test_slow_answer_is_acknowledged_within_3s_and_pings_nobody(fake: FakeDiscord) -> None:
    tutor = StubTutor(ask_delay=3.2)  # slower than Discord's acknowledgement window
    async with running(fake, tutor):
        sent = await fake.send_slash_command("ask", {"question": "what is a tensor?"})
        ack = await fake.wait_for_ack(sent.id)
        assert ack.callback_type == 5 and ack.status < 300 and ack.latency < 0.5
        assert not (ack.body.get("data") or {}).get("flags", 0) & EPHEMERAL
        fill = await fake.wait_for(lambda r: r.method == "PATCH" and r.path.endswith("/messages/@original"),
                                   timeout=10)
        callback = await fake.wait_for(lambda r: r.path.startswith(f"/interactions/{sent.id}/"))
        assert fill.received_at - callback.received_at >= 3.0  # the answer came long after the acknowledgement
        [request] = tutor.requests
        assert (request.platform, request.command, request.text) == ("discord", "ask", "what is a tensor?")
        assert request.user.platform_id == str(fake.user_id) and request.user.name == "Mason"
        assert request.user.is_admin  # the fake's member holds every permission
        assert (request.workspace_id, request.channel_id) == (str(fake.guild_id), str(fake.channel_id))
        assert request.channel_name == "pytorch-help" and not request.is_direct

        assert fill.json["allowed_mentions"] == {"parse": []}
        [embed] = fill.json["embeds"]
        assert embed["title"] == "A question" and embed["footer"]["text"] == "Source: entry-1 (doc.md)"
        assert "@everyone" in embed["description"]
        buttons = [c for row in fill.json["components"] for c in row["components"]]
        assert [(b["custom_id"], b["label"]) for b in buttons] == [("ask:entry:tensors", "What is a tensor?"),
                                                                     ("feedback:up:7", "👍 Helpful")]
        assert fake.messages[ack.message_id]["embeds"] == [embed]
        assert all(r.json.get("allowed_mentions") == {"parse": []} for r in message_writes(fake))


async def test_buttons_round_trip_to_the_core_as_actions(fake: FakeDiscord) -> None:
    tutor = StubTutor()
    async with running(fake, tutor):
        sent = await fake.send_slash_command("ask", {"question": "q"})
        ack = await fake.wait_for_ack(sent.id)
        await fake.wait_for(lambda r: r.method == "PATCH" and r.path.startswith(webhook(fake, sent.token)))
        assert ack.message_id is not None
        press = await fake.send_button_press(ack.message_id, "feedback:up:7")
        pressed = await fake.wait_for_ack(press.id)
        assert pressed.callback_type == 6 and pressed.status < 300 and pressed.latency < 0.5
        followup = await fake.wait_for(lambda r: r.method == "POST" and r.path == webhook(fake, press.token))
        assert followup.json["content"] == "pressed feedback:up:7"
        assert followup.json["flags"] & EPHEMERAL and followup.json["allowed_mentions"] == {"parse": []}
        action = tutor.requests[-1]
        assert (action.action, action.command, action.user.platform_id) == ("feedback:up:7", "", str(fake.user_id))


async def test_help_and_errors_are_ephemeral(fake: FakeDiscord) -> None:
    async with running(fake, StubTutor()):
        help_ = await fake.send_slash_command("help")
        ack = await fake.wait_for_ack(help_.id)
        assert ack.callback_type == 5 and ack.body["data"]["flags"] & EPHEMERAL  # private from the first moment
        await until(lambda: ack.message_id in fake.messages and "/ask" in str(fake.messages[ack.message_id]))
        assert fake.messages[ack.message_id]["flags"] & EPHEMERAL

        # A public command whose answer turns out private: the public placeholder goes, a private reply comes.
        board = await fake.send_slash_command("leaderboard")  # not registered in this Tutor: an error reply
        ack = await fake.wait_for_ack(board.id)
        assert ack.callback_type == 5 and not (ack.body.get("data") or {}).get("flags", 0) & EPHEMERAL
        followup = await fake.wait_for(lambda r: r.method == "POST" and r.path == webhook(fake, board.token))
        deleted = fake.requests_to("DELETE", rf"^{webhook(fake, board.token)}/messages/@original$")
        assert [r.status for r in deleted] == [204] and deleted[0].received_at <= followup.received_at
        assert followup.json["flags"] & EPHEMERAL and "/leaderboard" in followup.json["content"]
        assert ack.message_id not in fake.messages
        visible = [m for m in fake.messages.values() if not m["flags"] & EPHEMERAL]
        assert visible == []


async def test_demo_progress_edits_one_message_then_the_result_arrives_once(fake: FakeDiscord) -> None:
    tutor = StubTutor(progress_steps=20, step_delay=0.02)
    tutor.demo_gate.clear()  # hold the demo halfway, to break things mid-stream
    async with running(fake, tutor, edit_interval=0.3):
        sent = await fake.send_slash_command("demo", {"name": "train-tiny", "params": "steps=5 lr=0.1"})
        ack = await fake.wait_for_ack(sent.id)
        assert ack.callback_type == 5 and ack.latency < 0.5
        original = f"{webhook(fake, sent.token)}/messages/@original"
        fill = await fake.wait_for(lambda r: r.method == "PATCH" and r.path == original)
        assert [(b["custom_id"], b["label"], b["style"]) for b in fill.json["components"][0]["components"]] == [
            ("job:cancel:j1", "Cancel", 4)]
        assert tutor.requests[0].command == "demo" and tutor.requests[0].text == "train-tiny steps=5 lr=0.1"
        message_id = ack.message_id
        assert message_id is not None

        # Mid-demo: Discord rate-limits the next edit, the gateway drops, the requester presses Cancel meanwhile.
        edit_path = rf"^/webhooks/{fake.application_id}/[^/]+/messages/@original$"
        fake.fail_next("PATCH", edit_path, status=429, retry_after=0.3)
        fake.fail_next("PATCH", edit_path, status=500)
        async with fake.gateway_outage():
            await fake.disconnect_gateway(code=4000)
            press = await fake.send_button_press(message_id, "job:cancel:j1")
            tutor.demo_gate.set()
        await fake.wait_for_frame(lambda f: f.t == "RESUMED")
        pressed = await fake.wait_for_ack(press.id)
        assert pressed.callback_type == 6 and pressed.status < 300

        await until(lambda: fake.messages[message_id]["attachments"], timeout=15)
        final = fake.messages[message_id]
        [embed] = final["embeds"]
        assert embed["description"].startswith("Done.") and "```python" in embed["description"]
        assert [(f["name"], f["value"]) for f in embed["fields"]] == [("final loss", "0.0123"), ("device", "cpu")]
        assert embed["image"]["url"] == "attachment://loss_curve.png" and final["components"] == []
        [attachment] = final["attachments"]
        assert attachment["filename"] == "loss_curve.png"

        # One message, edited: coalesced (far fewer edits than progress events), throttled, the result once.
        # (After the press, edits may use the press's fresher token: its @original is the same message.)
        edits = fake.requests_to("PATCH", edit_path)
        assert [r.status for r in edits].count(429) == 1 and [r.status for r in edits].count(500) == 1
        done = [r for r in edits if r.status == 200]
        assert 2 <= len(done) <= 10 < tutor.progress_steps
        gaps = [b.received_at - a.received_at for a, b in zip(done, done[1:], strict=False)]
        assert min(gaps) >= 0.25
        uploads = [r for r in fake.requests if r.files and r.status == 200]
        assert len(uploads) == 1 and uploads[0].files[0].data == PNG
        assert done[-1] is uploads[0]
        assert [m for m in fake.messages.values() if "Done." in str(m["embeds"])] == [final]
        assert not fake.requests_to("POST", rf"^{re.escape(webhook(fake, sent.token))}$")  # nothing posted anew
        assert [r.action for r in tutor.requests if r.action] == ["job:cancel:j1"]  # handled once, after resume
        assert all(a.status < 300 for a in fake._interactions[sent.id].acks + fake._interactions[press.id].acks)
        assert all(r.json.get("allowed_mentions") == {"parse": []} for r in message_writes(fake) if r.status == 200)


@pytest.mark.parametrize("how", ["token-refused", "token-old"])
async def test_later_edits_fall_back_to_the_channel_message(fake: FakeDiscord, how: str) -> None:
    tutor = StubTutor(progress_steps=6, step_delay=0.02)
    tutor.demo_gate.clear()
    clock = ManualClock()
    async with running(fake, tutor, edit_interval=0.05, clock=clock):
        sent = await fake.send_slash_command("demo", {"name": "train-tiny"})
        ack = await fake.wait_for_ack(sent.id)
        original = f"{webhook(fake, sent.token)}/messages/@original"
        await fake.wait_for(lambda r: r.method == "PATCH" and r.path == original)
        if how == "token-refused":
            fake.expire_interaction(sent.id)  # Discord says 401 Invalid Webhook Token from now on
        else:
            clock.advance(14 * 60 + 1)  # older than the adapter trusts a token: straight to the channel
        tutor.demo_gate.set()
        message_id = ack.message_id
        await until(lambda: fake.messages[message_id]["attachments"], timeout=10)

        through_token = fake.requests_to("PATCH", rf"^{re.escape(original)}$")
        assert [r.status for r in through_token] == ([200, 401] if how == "token-refused" else [200])
        in_channel = fake.requests_to("PATCH", rf"^/channels/{fake.channel_id}/messages/{message_id}$")
        assert in_channel and all(r.status == 200 for r in in_channel)
        assert in_channel[-1].files[0].data == PNG
        assert all(r.json["allowed_mentions"] == {"parse": []} for r in in_channel)
        assert "Done." in fake.messages[message_id]["embeds"][0]["description"]


async def test_a_mention_where_no_thread_may_start_is_answered_in_the_channel_and_pings_nobody(
        fake: FakeDiscord) -> None:
    tutor = StubTutor()
    async with running(fake, tutor):
        # Without Create Public Threads the bot answers in the channel, replying to the mention (with the
        # permission it answers in a thread: tests/adapters/test_discord_threads.py).
        fake.fail_next("POST", r"/threads$", status=403, times=2)
        asked = await fake.send_user_message(f"<@{fake.bot_user_id}> what is a tensor?")
        await fake.send_user_message("just chatting", mention_bot=False)
        reply = await fake.wait_for(lambda r: r.method == "POST" and r.path == f"/channels/{fake.channel_id}/messages")
        assert str(reply.json["message_reference"]["message_id"]) == asked["id"]
        assert reply.json["allowed_mentions"] == {"parse": [], "replied_user": False}  # nor the asker
        assert reply.json["embeds"][0]["description"].startswith("@everyone what is a tensor?")
        [request] = tutor.requests
        assert (request.command, request.text, request.user.platform_id) == ("ask", "what is a tensor?",
                                                                             str(fake.user_id))
        await asyncio.sleep(0.2)  # the bot's own echoed message and the unrelated one get no answer
        assert len(fake.requests_to("POST", rf"^/channels/{fake.channel_id}/messages$")) == 1

        await fake.send_user_message(f"<@!{fake.bot_user_id}> /help")
        help_ = await fake.wait_for(lambda r: r.method == "POST" and "/ask" in str(r.json.get("embeds")))
        assert help_.path == f"/channels/{fake.channel_id}/messages" and help_.json["allowed_mentions"]["parse"] == []


async def test_long_reply_is_paged_with_show_more(fake: FakeDiscord) -> None:
    async with running(fake, StubTutor()):
        sent = await fake.send_slash_command("ask", {"question": "long"})
        fill = await fake.wait_for(lambda r: r.method == "PATCH" and r.path.startswith(webhook(fake, sent.token)))
        [embed] = fill.json["embeds"]
        pages = [embed["description"]]
        assert len(embed["description"]) <= 4096 and len(embed["title"]) + len(embed["description"]) <= 6000
        [more] = [c for row in fill.json["components"] for c in row["components"]]
        message_id = (await fake.wait_for_ack(sent.id)).message_id
        assert message_id is not None and more["label"] == "Show more"
        while more is not None:
            press = await fake.send_button_press(message_id, more["custom_id"])
            ack = await fake.wait_for_ack(press.id)
            assert ack.callback_type == 4 and ack.body["data"]["flags"] & EPHEMERAL and ack.latency < 0.5
            [page] = ack.body["data"]["embeds"]
            pages.append(page["description"])
            buttons = [c for row in ack.body["data"].get("components", []) for c in row["components"]]
            more = buttons[0] if buttons else None
            message_id = ack.message_id
        assert len(pages) == 3 and page["title"] == "Long (3/3)"
        assert all(p.count("```") % 2 == 0 for p in pages)  # every page's code fence is closed
        lines = [line for p in pages for line in p.splitlines() if line.startswith("x")]
        assert lines == [f"x{n} = torch.zeros({n})" for n in range(400)]


# -- the real core, end to end ------------------------------------------------------------------------------

TENSOR_ENTRY = "how-does-pytorch-s-tensor-object-differ-from-a-numpy-ndarray"
TENSOR_QUESTION = "How does PyTorch's `Tensor` object differ from a NumPy `ndarray`?"


async def test_real_answer_cites_its_entry_and_records_feedback(fake: FakeDiscord, runtime) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from bot.adapters.discord import build_client
    from bot.db.models import Feedback, Question

    settings = runtime.settings.model_copy(update={"discord_api_url": fake.api_url})
    client = build_client(runtime, settings, guild_ready_timeout=0.05)
    runner = asyncio.create_task(client.start("fake-token"))
    try:
        await until(lambda: client.is_ready())
        typed = await fake.send_autocomplete("ask", {"question": "tensor numpy"}, focused="question")
        suggestions = (await fake.wait_for_ack(typed.id)).body["data"]["choices"]
        values = [c["value"] for c in suggestions]
        assert TENSOR_QUESTION in values and all("numpy" in v.lower() or "tensor" in v.lower() for v in values)

        question = "How is a PyTorch tensor different from a numpy array?"
        sent = await fake.send_slash_command("ask", {"question": question})
        ack = await fake.wait_for_ack(sent.id)
        assert ack.latency < 1.0
        await until(lambda: fake.messages.get(ack.message_id, {}).get("embeds"))
        [embed] = fake.messages[ack.message_id]["embeds"]
        assert embed["footer"]["text"] == f"Source: {TENSOR_ENTRY} (what-is-pytorch.md)"
        assert "GPU" in embed["description"]
        docs = next(f["value"] for f in embed["fields"] if f["name"] == "Docs")
        assert docs.startswith("[torch.Tensor](https://docs.pytorch.org/docs/stable/tensors.html), [torch.from_numpy](")
        ids = [c["custom_id"] for row in fake.messages[ack.message_id]["components"] for c in row["components"]]
        up = next(i for i in ids if i.startswith("feedback:up:"))
        assert f"feedback:down:{up.rsplit(':', 1)[1]}" in ids

        press = await fake.send_button_press(ack.message_id, up)
        thanks = await fake.wait_for(lambda r: r.method == "POST" and r.path == webhook(fake, press.token))
        assert thanks.json["flags"] & EPHEMERAL and "Thanks" in thanks.json["content"]
    finally:
        await client.close()
        await asyncio.wait_for(runner, 10)
    with runtime.database.session() as session:
        question = session.scalars(select(Question)).one()
        assert (question.platform, question.status) == ("discord", "answered")
        assert [f.vote for f in session.scalars(select(Feedback))] == [1]


async def test_run_serves_the_web_app_and_discord_in_one_loop(fake: FakeDiscord, runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import httpx

    from bot.cli.serve_cmd import serve_all
    from bot.config import get_settings
    from tests.helpers import free_port

    monkeypatch.setenv("TORCHTUTOR_DISCORD_TOKEN", "fake-token")
    monkeypatch.setenv("TORCHTUTOR_DISCORD_API_URL", fake.api_url)
    monkeypatch.setenv("TORCHTUTOR_DISCORD_GUILD_ID", str(fake.guild_id))
    get_settings.cache_clear()
    settings = get_settings()
    port = free_port()
    served = asyncio.create_task(serve_all(runtime, settings, "127.0.0.1", port))
    try:
        await fake.wait_for_frame(lambda f: f.t == "GUILD_CREATE", timeout=20)
        assert {c["name"] for c in fake.commands[fake.guild_id]} == COMMANDS
        async with httpx.AsyncClient() as http:
            health = await http.get(f"http://127.0.0.1:{port}/healthz")
        assert health.json() == {"status": "ok"}
        sent = await fake.send_slash_command("help")
        ack = await fake.wait_for_ack(sent.id)
        await until(lambda: "/ask" in str(fake.messages.get(ack.message_id, {})))
    finally:
        served.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await served


async def test_run_fails_in_one_line_when_discord_refuses_the_token(runtime, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from bot.cli.parser import CommandFailed
    from bot.cli.serve_cmd import serve_all
    from tests.helpers import free_port

    async with start_fake_discord(bot_token="the-right-token") as fake:
        settings = runtime.settings.model_copy(update={"discord_api_url": fake.api_url})
        settings = settings.model_copy(update={"discord_token": SecretStr("a-wrong-token")})
        with pytest.raises(CommandFailed, match="TORCHTUTOR_DISCORD_TOKEN"):
            await asyncio.wait_for(serve_all(runtime, settings, "127.0.0.1", free_port()), 20)


async def test_an_interaction_delivered_too_late_is_answered_in_the_channel_once() -> None:
    clock = ManualClock()
    async with start_fake_discord(clock=clock) as fake, running(fake, StubTutor()):
        async with fake.gateway_outage():  # the client is away past the 3-second window
            await fake.disconnect_gateway(code=4000)
            late = await fake.send_slash_command("ask", {"question": "what is autograd?"})
            private = await fake.send_slash_command("help")
            clock.advance(5)
        refused = await fake.wait_for_ack(late.id)
        assert refused.status == 404  # Unknown interaction: Discord no longer accepts an acknowledgement
        post = await fake.wait_for(lambda r: r.method == "POST" and r.path == f"/channels/{fake.channel_id}/messages")
        assert post.json["embeds"][0]["description"].startswith("@everyone what is autograd?")
        assert post.json["allowed_mentions"] == {"parse": []} and post.json["enforce_nonce"] is True
        assert (await fake.wait_for_ack(private.id)).status == 404
        await asyncio.sleep(0.3)  # help is private: with no token left it is dropped, never posted publicly

        # A redelivered interaction (same id) is not answered a second time.
        frame = next(f for f in fake.gateway_frames if f.t == "INTERACTION_CREATE" and f.d["id"] == str(late.id))
        await fake.dispatch("INTERACTION_CREATE", frame.d)
        await asyncio.sleep(0.3)
        assert len(fake.requests_to("POST", rf"^/channels/{fake.channel_id}/messages$")) == 1
        assert len(fake.requests_to("POST", rf"^/interactions/{late.id}/")) == 1


async def test_demo_params_autocomplete_offers_the_demos_defaults(fake: FakeDiscord) -> None:
    async with running(fake, StubTutor()):
        typed = await fake.send_autocomplete("demo", {"name": "train-tiny", "params": ""}, focused="params")
        choices = (await fake.wait_for_ack(typed.id)).body["data"]["choices"]
        assert [c["value"] for c in choices] == ["steps=200 lr=0.05 seed=0 device=cpu"]


async def test_a_reply_discord_refuses_becomes_an_apology_not_a_silent_spinner(fake: FakeDiscord) -> None:
    async with running(fake, StubTutor()):
        sent = await fake.send_slash_command("ask", {"question": "q"})
        fake.fail_next("PATCH", rf"^{re.escape(webhook(fake, sent.token))}/messages/@original$", status=400)
        ack = await fake.wait_for_ack(sent.id)
        sorry = await fake.wait_for(lambda r: r.method == "POST" and r.path == webhook(fake, sent.token))
        assert sorry.status == 200 and sorry.json["content"].startswith("Sorry, Discord would not show my reply")
        placeholder = fake.messages[ack.message_id]  # the "thinking" placeholder now holds the apology
        assert not placeholder["flags"] & LOADING and placeholder["content"] == sorry.json["content"]


# -- the real quiz, study and demo features on the wire ------------------------------------------------------

OTHER = (424242424242424242, "Bob")  # another member of the guild, without admin rights
CHOICE_ITEM = "dynamic-graph-when-built"  # a choice question; its right answer is shown under a shuffled letter
CHOICE_RIGHT = "On the fly, while the forward pass runs, anew for each input"


@contextlib.asynccontextmanager
async def real_client(fake: FakeDiscord, runtime, **settings: Any) -> AsyncIterator[TorchtutorDiscord]:  # type: ignore[no-untyped-def]
    """The client `torchtutor serve` builds for this runtime (with these settings changed), connected to the
    fake; closed afterwards."""
    from bot.adapters.discord import build_client

    settings = runtime.settings.model_copy(update={"discord_api_url": fake.api_url, **settings})
    client = build_client(runtime, settings, guild_ready_timeout=0.05, edit_interval=0.3)
    runner = asyncio.create_task(client.start("fake-token"))
    try:
        await until(lambda: client.is_ready() or runner.done())
        if runner.done():
            runner.result()
        yield client
    finally:
        await client.close()
        await asyncio.wait_for(runner, 10)


def force_items(runtime, *item_ids: str) -> None:  # type: ignore[no-untyped-def]
    """Make the next quiz ask exactly these items."""
    bank = runtime.quizzes.bank
    runtime.quizzes.quiz.pick = lambda pool, count, **_: [bank.snapshot().get(i) for i in item_ids]


def component_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message.get("components") or [] for c in row["components"]]


async def test_a_study_channel_gets_its_question_and_counts_a_press_from_anyone(fake: FakeDiscord, runtime) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select, update

    from bot.db.base import utcnow
    from bot.db.quiz_models import QuizAttempt, StudySchedule

    study = runtime.quizzes.study
    assert "discord" not in runtime.outbox.platforms
    async with real_client(fake, runtime):
        assert "discord" in runtime.outbox.platforms  # registered once the client is ready
        sent = await fake.send_slash_command("study", {"action": "start", "schedule": "every 1h"})
        ack = await fake.wait_for_ack(sent.id)
        await until(lambda: "every hour" in str(fake.messages.get(ack.message_id, {})))
        with runtime.database.transaction() as session:  # the hour has passed
            session.execute(update(StudySchedule).values(next_fire_at=utcnow() - timedelta(seconds=1)))
        [posted] = await study.study_tick()
        assert (posted.platform, posted.workspace_id, posted.channel_id) == (
            "discord", str(fake.guild_id), str(fake.channel_id))

        channel_posts = fake.requests_to("POST", rf"^/channels/{fake.channel_id}/messages$")
        assert [r.status for r in channel_posts] == [200]
        question = channel_posts[0].json
        assert question["allowed_mentions"] == {"parse": []}
        assert "Study question" in question["embeds"][0]["title"]
        [message_id] = [m for m, stored in fake.messages.items() if "Study question" in str(stored["embeds"])]
        choices = [c for c in component_ids(fake.messages[message_id]) if c.startswith("quiz:answer:")]
        assert choices == [c for c in component_ids(question) if c.startswith("quiz:answer:")] and choices

        press = await fake.send_button_press(message_id, choices[0], as_user=OTHER)
        pressed = await fake.wait_for_ack(press.id)
        assert pressed.status < 300
        with runtime.database.session() as session:
            await until(lambda: session.scalars(select(QuizAttempt)).all(), timeout=10)
        with runtime.database.session() as session:
            [attempt] = session.scalars(select(QuizAttempt)).all()
            assert attempt.slot == 0 and attempt.mode == "study"
        # The answer is acknowledged to the presser alone; nothing new is posted in the channel.
        answer = await fake.wait_for(lambda r: r.path.startswith(webhook(fake, press.token)) and r.method != "GET")
        assert answer.method == "POST" and answer.json["flags"] & EPHEMERAL
        assert answer.json["content"].startswith("Got it: you answered") and "question 1" in answer.json["content"]
        assert len(fake.requests_to("POST", rf"^/channels/{fake.channel_id}/messages$")) == 1
    assert "discord" not in runtime.outbox.platforms  # unregistered on close


async def test_a_real_quiz_grades_the_owner_and_politely_refuses_others(fake: FakeDiscord, runtime) -> None:  # type: ignore[no-untyped-def]
    force_items(runtime, CHOICE_ITEM)
    async with real_client(fake, runtime):
        sent = await fake.send_slash_command("quiz")
        ack = await fake.wait_for_ack(sent.id)
        assert ack.body["data"]["flags"] & EPHEMERAL  # personal from the first moment
        await until(lambda: component_ids(fake.messages.get(ack.message_id, {})))
        question = fake.messages[ack.message_id]
        assert question["flags"] & EPHEMERAL
        # The button a person would press: the one whose label shows the right answer, wherever it was shuffled to.
        first, letter = next((c["custom_id"], c["label"][0]) for row in question["components"]
                             for c in row["components"] if c.get("label", "").endswith(f") {CHOICE_RIGHT}"))
        assert f"**{letter})** {CHOICE_RIGHT}" in question["embeds"][0]["description"]

        other = await fake.send_button_press(ack.message_id, first, as_user=OTHER)
        refusal = await fake.wait_for(lambda r: r.method == "POST" and r.path == webhook(fake, other.token))
        assert refusal.json["flags"] & EPHEMERAL and "only they can answer" in refusal.json["content"]
        assert "Mason" in refusal.json["content"]

        mine = await fake.send_button_press(ack.message_id, first)
        graded = await fake.wait_for(lambda r: r.path.startswith(webhook(fake, mine.token)) and r.method != "GET"
                                     and "✅" in str(r.json))
        assert f"**{letter})** {CHOICE_RIGHT}" in str(graded.json)  # graded as the letter the person saw
        assert graded.status == 200 and graded.json["allowed_mentions"] == {"parse": []}
        assert graded.method == "POST" and graded.json["flags"] & EPHEMERAL  # graded for the owner alone
    from sqlalchemy import select

    from bot.db.quiz_models import QuizAttempt

    with runtime.database.session() as session:
        [attempt] = session.scalars(select(QuizAttempt)).all()
        assert (attempt.item_id, attempt.correct) == (CHOICE_ITEM, True)


async def test_only_channel_managers_schedule_and_quiz_topics_autocomplete(fake: FakeDiscord, runtime) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from bot.db.quiz_models import StudySchedule
    from tests.fakes.discord_server import _options

    async with real_client(fake, runtime):
        study = next(c for c in fake.commands[None] if c["name"] == "study")
        assert str(study["default_member_permissions"]) == "16"  # MANAGE_CHANNELS: hidden from others by default
        managed = {"study", "autoanswer"}
        assert all(c["default_member_permissions"] is None for c in fake.commands[None] if c["name"] not in managed)

        # Bob lacks Manage Channels (a server may still show him the command): refused, to him alone, one line.
        sent = await fake.send_interaction(2, fake._command_data(
            "study", _options({"action": "start", "schedule": "every 6h"})), as_user=OTHER)
        await fake.wait_for_ack(sent.id)
        refusal = await fake.wait_for(lambda r: r.path.startswith(webhook(fake, sent.token)) and r.method != "GET"
                                      and "Manage Channels" in str(r.json))
        assert refusal.method == "POST" and refusal.json["flags"] & EPHEMERAL  # Bob alone sees it
        # The public "thinking" placeholder does not linger in the channel.
        original = webhook(fake, sent.token) + "/messages/@original"
        await fake.wait_for(lambda r: r.method == "DELETE" and r.path == original)
        text = refusal.json.get("content") or refusal.json["embeds"][0]["description"]
        assert "Only people with the Manage Channels permission here can start or stop" in text and "\n" not in text
        with runtime.database.session() as session:
            assert session.scalars(select(StudySchedule)).all() == []

        typed = await fake.send_autocomplete("quiz", {"topic": "ten"}, focused="topic")
        choices = (await fake.wait_for_ack(typed.id)).body["data"]["choices"]
        assert [c["value"] for c in choices] == ["tensors"]
        typed = await fake.send_autocomplete("quiz", {"topic": ""}, focused="topic")
        choices = (await fake.wait_for_ack(typed.id)).body["data"]["choices"]
        assert [c["value"] for c in choices] == runtime.quizzes.bank.snapshot().topics


async def run_real_demo(fake: FakeDiscord, name: str, params: str | None = None) -> tuple[list[RecordedRequest],
                                                                                   dict[str, Any]]:
    """Run /demo on the real runtime; the successful edits of its message, and the message as it ends."""
    sent = await fake.send_slash_command("demo", {"name": name, **({"params": params} if params else {})})
    ack = await fake.wait_for_ack(sent.id)
    assert ack.callback_type == 5 and ack.latency < 1.0
    message_id = ack.message_id
    assert message_id is not None
    await until(lambda: "The code that ran" in str(fake.messages.get(message_id)), timeout=90)
    await asyncio.sleep(0.6)  # nothing more may arrive after the result
    assert not fake.requests_to("POST", rf"^{re.escape(webhook(fake, sent.token))}$")  # nothing posted anew
    original = rf"^{re.escape(webhook(fake, sent.token))}/messages/@original$"
    return [r for r in fake.requests_to("PATCH", original) if r.status == 200], fake.messages[message_id]


async def test_real_demos_on_the_local_worker_pool_stream_progress_then_one_result(fake: FakeDiscord,  # type: ignore[no-untyped-def]
                                                                                    runtime) -> None:
    runtime.demos.edit_interval = 0.2
    runtime.start_workers()
    async with real_client(fake, runtime):
        edits, final = await run_real_demo(fake, "backward-pass")
        assert len(edits) >= 2, "the placeholder is filled, then edited as the job runs"
        assert "Queued" in str(edits[0].json) or "░" in str(edits[0].json)
        results = [r for r in edits if "```" in str(r.json)]
        assert len(results) == 1 and results[0] is edits[-1], "the result arrives exactly once, last"
        assert "```python" in final["embeds"][0]["description"] and not final["components"]
        assert not final["attachments"]  # backward-pass draws no plot
        assert all(r.json.get("allowed_mentions") == {"parse": []} for r in edits)

        edits, final = await run_real_demo(fake, "train-tiny", "steps=30")  # a demo that draws its loss curve
        results = [r for r in edits if "```" in str(r.json)]
        assert len(results) == 1 and results[0] is edits[-1]
        uploads = [r for r in edits if r.files]
        assert uploads == results, "the PNG is uploaded once, with the result"
        [png] = uploads[0].files
        assert png.data.startswith(b"\x89PNG") and png.filename.endswith(".png")
        assert [a["filename"] for a in final["attachments"]] == [png.filename]


# -- restarts -----------------------------------------------------------------------------------------------


def demo_process(database: Any, backend: Any, owner: str) -> tuple[Tutor, Any, Any]:
    """One bot process's Tutor (just /demo and its buttons), its demos, and its job messages on a new outbox."""
    from bot.core.demos.job_messages import JobMessages
    from bot.core.demos.live import DemoJobs
    from bot.core.outbox import Outbox
    from bot.db.job_followers import JobFollowers

    demos = DemoJobs(database, backend, edit_interval=0.1, poll_s=0.1, followers=JobFollowers(database, owner))
    messages = JobMessages(demos, Outbox())
    tutor = Tutor()
    tutor.command("demo", demos.command)
    tutor.action("job", demos.job_action)
    tutor.on_shown("job", messages.remember)
    return tutor, demos, messages


async def test_a_demo_message_is_picked_up_by_the_next_process_and_finished_once(fake: FakeDiscord,  # type: ignore[no-untyped-def]
                                                                                 migrated) -> None:
    from bot.db.engine import Database
    from tests.jobs_support import ThreadBackend, sample_demos_registered

    database = Database.from_url(migrated.database_url)
    try:
        with sample_demos_registered():
            backend = ThreadBackend(database)  # the workers outlive both bot processes
            tutor, demos, _ = demo_process(database, backend, "before")
            async with running(fake, tutor, edit_interval=0.1):
                sent = await fake.send_slash_command("demo", {"name": "test-sleep", "params": "seconds=3"})
                message_id = (await fake.wait_for_ack(sent.id)).message_id
                await until(lambda: "step" in str(fake.messages.get(message_id)), timeout=20)
                demos.hand_back()  # SIGTERM: the process lets go of the message, then closes
            assert "slept" not in str(fake.messages[message_id])
            before = len(fake.requests)

            tutor, _, messages = demo_process(database, backend, "after")
            async with running(fake, tutor, edit_interval=0.1, outbox=messages.outbox):
                assert await messages.resume() == 1
                await asyncio.wait_for(messages.wait(), 30)
    finally:
        database.dispose()
    after = fake.requests[before:]
    in_channel = rf"^/channels/{fake.channel_id}/messages/{message_id}$"
    edits = [r for r in after if r.method == "PATCH" and re.match(in_channel, r.path) and r.status == 200]
    assert edits and len(edits) == len(message_writes_in(after)), "the new process only edits that message"
    results = [r for r in edits if "slept 3 s" in str(r.json)]
    assert len(results) == 1 and results[0] is edits[-1], "the result arrives once, last"
    assert [f.filename for f in results[0].files] == ["test-sleep-1.png"]
    final = fake.messages[message_id]
    assert "slept 3 s" in final["embeds"][0]["description"] and final["components"] == []



# -- the command catalogue ---------------------------------------------------------------------------------


class CatalogueTutor(Tutor):
    """Every catalogue command registered; each records the request it got."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Request] = []
        for spec in CATALOGUE:
            self.command(spec.name, self._record)

    async def _record(self, request: Request) -> Reply:
        self.requests.append(request)
        return Reply(f"got {request.command}", ephemeral=True)


async def test_the_synced_commands_are_the_catalogue(fake: FakeDiscord) -> None:
    async with running(fake, StubTutor()):
        synced = {c["name"]: c for c in fake.commands[None] if c.get("type", 1) == 1}
        assert sorted(synced) == sorted(spec.name for spec in CATALOGUE)
        for spec in CATALOGUE:
            command = synced[spec.name]
            assert command["description"] == spec.summary
            options = command.get("options", [])
            assert [(o["name"], o["description"], bool(o.get("required"))) for o in options] == [
                (o.name, o.description, o.required) for o in spec.options]
            assert [o["type"] for o in options] == [6 if o.kind is OptionKind.PERSON else 3 for o in spec.options]
            for option, sent in zip(spec.options, options, strict=True):
                if option.choices:
                    assert [(c["value"], c["name"]) for c in sent["choices"]] == [
                        (c.value, c.label) for c in option.choices]
            managers = spec.audience is Audience.CHANNEL_MANAGERS
            assert (str(command["default_member_permissions"]) == "16") == managers, spec.name


async def test_each_command_hands_its_options_to_the_core_as_the_catalogue_text(fake: FakeDiscord) -> None:
    tutor = CatalogueTutor()
    other = {"id": "4242", "username": "bob", "discriminator": "0", "avatar": None, "global_name": "Bob"}
    sent_values = {"ask": {"question": "what is a tensor?"}, "demo": {"name": "train-tiny", "params": "steps=5"},
                   "run": {"code": "print(1)"}, "quiz": {"topic": "autograd"}, "review": {"what": "mistakes"},
                   "study": {"action": "status"}, "autoanswer": {"action": "status"}, "leaderboard": {}, "help": {}}
    async with running(fake, tutor):
        for name, values in sent_values.items():
            sent = await fake.send_slash_command(name, values)
            await fake.wait_for_ack(sent.id)
        person = {**fake._command_data("stats", [{"type": 6, "name": "user", "value": other["id"]}]),
                  "resolved": {"users": {other["id"]: other}}}
        await fake.wait_for_ack((await fake.send_interaction(2, person)).id)
        await until(lambda: len(tutor.requests) == len(CATALOGUE))
    got = {r.command: r.text for r in tutor.requests}
    expected = {name: BY_NAME[name].text(values) for name, values in sent_values.items()}
    assert got == {**expected, "stats": "<@4242>"}
    assert got["demo"] == "train-tiny steps=5" and got["study"] == "status"
