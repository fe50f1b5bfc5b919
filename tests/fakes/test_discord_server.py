"""The loopback Discord, proven with the real discord.py client (and, for its rules, at the wire)."""

from __future__ import annotations

import asyncio
import io
import json
import re
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import discord
import discord.utils
import pytest
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from tests.fakes.discord_server import (
    EPHEMERAL,
    HAS_THREAD,
    LOADING,
    FakeDiscord,
    ManualClock,
    point_discord_py_at,
    start_fake_discord,
    use_bot_gateway,
)

PAYLOADS = Path(__file__).resolve().parents[1] / "data" / "discord"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(24)
TOPICS = ("tensors", "autograd", "optimizers")
ANSWER = "A tensor can have any number of dimensions."


class RevealView(discord.ui.View):
    """A question's "Reveal" button, which edits the question into its answer."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Reveal", custom_id="reveal", style=discord.ButtonStyle.primary)
    async def reveal(self, interaction: discord.Interaction, button: discord.ui.Button[RevealView]) -> None:
        """Record who pressed, then replace the question with the answer."""
        assert isinstance(interaction.client, TutorBot)
        interaction.client.reveals.append(interaction.user.id)
        await interaction.response.edit_message(content=ANSWER, view=None)


@app_commands.command(description="Defer, then answer with a follow-up.")
async def ping(interaction: discord.Interaction) -> None:
    """Acknowledge first, then answer."""
    await interaction.response.defer(thinking=True)
    await interaction.followup.send("pong")


@app_commands.command(description="Defer, then edit the original response.")
async def explain(interaction: discord.Interaction) -> None:
    """The deferred-then-edited pattern."""
    await interaction.response.defer(thinking=True)
    await interaction.edit_original_response(content="Autograd records operations as a graph.")


@app_commands.command(description="Send a plot as a follow-up file.")
async def plot(interaction: discord.Interaction) -> None:
    """Defer, then upload an image."""
    await interaction.response.defer(thinking=True)
    await interaction.followup.send("loss curve", file=discord.File(io.BytesIO(PNG), filename="loss.png"))


@app_commands.command(description="Ask a question with a button.")
async def quiz(interaction: discord.Interaction) -> None:
    """Answer with a message that carries a view."""
    await interaction.response.send_message("Is every tensor a matrix?", view=RevealView())


@app_commands.command(description="Explain a topic.")
async def topic(interaction: discord.Interaction, name: str) -> None:
    """Answer with the topic's name."""
    await interaction.response.send_message(f"About {name}")


@topic.autocomplete("name")
async def topic_names(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    """Topics starting with what the user typed."""
    return [app_commands.Choice(name=t, value=t) for t in TOPICS if t.startswith(current)]


class TutorBot(discord.Client):
    """A small bot shaped like torchtutor's adapter: a command tree synced at start-up."""

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default(), guild_ready_timeout=0.05)
        self.tree = app_commands.CommandTree(self)
        for command in (ping, explain, plot, quiz, topic):
            self.tree.add_command(command)
        self.reveals: list[int] = []
        self.seen: list[discord.Message] = []
        self.threads_seen: list[discord.Thread] = []

    async def on_message(self, message: discord.Message) -> None:
        """Keep every message the gateway delivered."""
        self.seen.append(message)

    async def on_thread_create(self, thread: discord.Thread) -> None:
        """Keep every thread Discord said was newly created."""
        self.threads_seen.append(thread)

    async def setup_hook(self) -> None:
        """Take the gateway URL from /gateway/bot, then sync the commands."""
        await use_bot_gateway(self)
        await self.tree.sync()


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``condition`` against a deadline."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.01)


def _leftovers(before: set[asyncio.Task[Any]]) -> list[object]:
    """Tasks started since ``before`` and discord.py keep-alive threads that are still running."""
    tasks = asyncio.all_tasks() - before - {asyncio.current_task()}
    threads = [t for t in threading.enumerate() if t.name.startswith("keep-alive-handler")]
    return [*tasks, *threads]


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A started fake; on teardown, nothing the test started may still be running."""
    before = asyncio.all_tasks()
    async with start_fake_discord() as server:
        yield server
    try:
        await _until(lambda: not _leftovers(before))
    except TimeoutError:
        pytest.fail(f"leaked: {_leftovers(before)}")


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[TutorBot]:
    """The real client, started against the fake and ready; closed cleanly afterwards."""
    with point_discord_py_at(fake.api_url):
        client = TutorBot()
        runner = asyncio.create_task(client.start("fake-token"))
        try:
            await _until(lambda: client.is_ready() or runner.done())
            if runner.done():
                runner.result()
            yield client
        finally:
            await client.close()
            await asyncio.wait_for(runner, 10)


def _followups(fake: FakeDiscord, token: str) -> list[Any]:
    return fake.requests_to("POST", rf"^/webhooks/{fake.application_id}/{re.escape(token)}$")


async def test_client_logs_in_identifies_syncs_and_becomes_ready(fake: FakeDiscord, bot: TutorBot) -> None:
    app = fake.application_id
    start = [(r.method, r.path, r.status) for r in fake.requests[:4]]
    assert start == [("GET", "/users/@me", 200), ("GET", "/oauth2/applications/@me", 200),
                     ("GET", "/gateway/bot", 200), ("PUT", f"/applications/{app}/commands", 200)]
    names = {"ping", "explain", "plot", "quiz", "topic"}
    assert {c["name"] for c in fake.requests[3].json} == names
    assert {c["name"] for c in fake.commands[None]} == names

    identify = await fake.wait_for_frame(lambda f: f.direction == "in" and f.op == 2)
    assert identify.d["token"] == "fake-token"
    assert identify.d["intents"] == discord.Intents.default().value
    dispatched = [(f.t, f.s) for f in fake.gateway_frames if f.direction == "out" and f.op == 0]
    assert dispatched[:2] == [("READY", 1), ("GUILD_CREATE", 2)]
    await fake.wait_for_frame(lambda f: f.direction == "out" and f.op == 11)

    connection = fake.gateway_connections[0]
    assert connection.path == "/gateway" and connection.query["v"] == "10"
    assert connection.query["compress"] == discord.utils._ActiveDecompressionContext.COMPRESSION_TYPE
    assert bot.user is not None and bot.user.id == fake.bot_user_id
    assert bot.application_id == fake.application_id
    assert isinstance(bot.get_channel(fake.channel_id), discord.TextChannel)


async def test_slash_command_is_deferred_then_followed_up(fake: FakeDiscord, bot: TutorBot) -> None:
    sent = await fake.send_slash_command("ping")

    ack = await fake.wait_for_ack(sent.id)
    assert (ack.callback_type, ack.status) == (5, 200)
    assert ack.latency < fake.ack_deadline
    followup = await fake.wait_for(lambda r: r in _followups(fake, sent.token))
    assert followup.status == 200 and followup.json["content"] == "pong"
    assert followup.query["wait"] == "1"
    assert ack.message_id is not None
    answer = fake.messages[ack.message_id]
    assert answer["content"] == "pong" and not answer["flags"] & LOADING


async def test_deferred_response_is_edited_in_place(fake: FakeDiscord, bot: TutorBot) -> None:
    sent = await fake.send_slash_command("explain")

    edit = await fake.wait_for(lambda r: r.method == "PATCH" and r.path.endswith("/messages/@original"))
    assert edit.status == 200
    assert edit.path == f"/webhooks/{fake.application_id}/{sent.token}/messages/@original"
    ack = await fake.wait_for_ack(sent.id)
    assert ack.callback_type == 5 and ack.message_id is not None
    answer = fake.messages[ack.message_id]
    assert answer["content"] == "Autograd records operations as a graph."
    assert not answer["flags"] & LOADING and answer["edited_timestamp"] is None


async def test_followup_file_is_parsed_from_multipart(fake: FakeDiscord, bot: TutorBot) -> None:
    sent = await fake.send_slash_command("plot")

    followup = await fake.wait_for(lambda r: r in _followups(fake, sent.token))
    assert [(f.field, f.filename, f.data) for f in followup.files] == [("files[0]", "loss.png", PNG)]
    assert followup.json["content"] == "loss curve"
    ack = await fake.wait_for_ack(sent.id)
    assert ack.message_id is not None
    [attachment] = fake.messages[ack.message_id]["attachments"]
    async with aiohttp.ClientSession() as http, http.get(attachment["url"]) as response:
        assert await response.read() == PNG


async def test_button_press_routes_to_the_view_callback(fake: FakeDiscord, bot: TutorBot) -> None:
    sent = await fake.send_slash_command("quiz")
    ack = await fake.wait_for_ack(sent.id)
    assert (ack.callback_type, ack.status) == (4, 200) and ack.message_id is not None

    press = await fake.send_button_press(ack.message_id, "reveal")
    pressed = await fake.wait_for_ack(press.id)
    assert (pressed.callback_type, pressed.status) == (7, 200)
    assert bot.reveals == [fake.user_id]
    question = fake.messages[ack.message_id]
    assert question["content"] == ANSWER and question["components"] == []
    assert question["edited_timestamp"] is not None


async def test_autocomplete_answers_with_choices(fake: FakeDiscord, bot: TutorBot) -> None:
    sent = await fake.send_autocomplete("topic", {"name": "ten"}, focused="name")

    ack = await fake.wait_for_ack(sent.id)
    assert (ack.callback_type, ack.status) == (8, 200)
    assert ack.body["data"]["choices"] == [{"name": "tensors", "value": "tensors"}]


async def test_rate_limited_followup_is_retried_after_retry_after(fake: FakeDiscord, bot: TutorBot) -> None:
    fake.fail_next("POST", rf"^/webhooks/{fake.application_id}/[^/]+$", status=429, retry_after=0.5)
    sent = await fake.send_slash_command("ping")

    await fake.wait_for(lambda r: r in _followups(fake, sent.token) and r.status == 200)
    attempts = _followups(fake, sent.token)
    assert [r.status for r in attempts] == [429, 200]
    assert attempts[1].received_at - attempts[0].received_at >= 0.5
    assert [m["content"] for m in fake.messages.values()].count("pong") == 1


async def test_channel_send_retries_500_and_429(fake: FakeDiscord, bot: TutorBot) -> None:
    path = rf"^/channels/{fake.channel_id}/messages$"
    fake.fail_next("POST", path, status=500)
    fake.fail_next("POST", path, status=429, retry_after=0.2)
    channel = bot.get_channel(fake.channel_id)
    assert isinstance(channel, discord.TextChannel)

    sent = await channel.send("hello")
    assert [r.status for r in fake.requests_to("POST", path)] == [500, 429, 200]
    assert fake.messages[sent.id]["content"] == "hello"
    edited = await sent.edit(content="hello again")
    assert edited.edited_at is not None and fake.messages[sent.id]["content"] == "hello again"


async def _drop(fake: FakeDiscord, how: str) -> None:
    if how == "reconnect-op7":
        await fake.request_reconnect()
    else:
        await fake.disconnect_gateway(code=4000 if how == "close-4000" else None)


@pytest.mark.parametrize("how", ["close-4000", "drop-tcp", "reconnect-op7"])
async def test_gateway_drop_is_resumed_and_missed_dispatches_replayed(
        fake: FakeDiscord, bot: TutorBot, how: str) -> None:
    seq_before = fake.sequence
    async with fake.gateway_outage():
        await _drop(fake, how)
        missed = await fake.send_slash_command("ping")

    resume = await fake.wait_for_frame(lambda f: f.direction == "in" and f.op == 6)
    assert resume.d["session_id"] == fake.session_id and resume.d["seq"] == seq_before
    assert fake.gateway_connections[-1].path == "/gateway/resume"
    await fake.wait_for_frame(lambda f: f.replayed and f.t == "INTERACTION_CREATE")
    await fake.wait_for_frame(lambda f: f.t == "RESUMED")
    assert (await fake.wait_for_ack(missed.id)).status == 200

    later = await fake.send_slash_command("ping")
    assert (await fake.wait_for_ack(later.id)).callback_type == 5
    assert (await fake.wait_for(lambda r: r in _followups(fake, later.token))).status == 200
    assert [f.op for f in fake.gateway_frames if f.direction == "in" and f.op == 2] == [2]


async def test_wrong_token_fails_login_and_urls_are_restored() -> None:
    saved = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    async with start_fake_discord(bot_token="right-token") as fake:
        with point_discord_py_at(fake.api_url, fake.gateway_url):
            client = discord.Client(intents=discord.Intents.default())
            with pytest.raises(discord.LoginFailure):
                await client.login("wrong-token")
            await client.close()
        assert fake.requests[0].status == 401
    assert (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY) == saved


# -- the fake's rules, at the wire ---------------------------------------------------------------------------


async def _raw_session(fake: FakeDiscord, http: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    """IDENTIFY over a plain websocket, so interactions can be dispatched without a bot."""
    ws = await http.ws_connect(fake.gateway_url + "?v=10&encoding=json")
    assert (await ws.receive_json())["op"] == 10
    await ws.send_json({"op": 2, "d": {"token": "raw", "intents": 1, "properties": {}}})
    assert [(await ws.receive_json())["t"] for _ in range(2)] == ["READY", "GUILD_CREATE"]
    return ws


async def test_gateway_handshake_payloads() -> None:
    async with start_fake_discord(heartbeat_interval_ms=1000) as fake, aiohttp.ClientSession() as http:
        ws = await http.ws_connect(fake.gateway_url + "?v=10&encoding=json")
        assert await ws.receive_json() == {"op": 10, "d": {"heartbeat_interval": 1000}, "s": None, "t": None}
        await ws.send_json({"op": 1, "d": None})
        assert (await ws.receive_json())["op"] == 11
        await ws.send_json({"op": 2, "d": {"token": "raw", "intents": 1, "properties": {}}})
        ready, guild = await ws.receive_json(), await ws.receive_json()
        assert (ready["op"], ready["t"], ready["s"]) == (0, "READY", 1)
        assert (guild["op"], guild["t"], guild["s"]) == (0, "GUILD_CREATE", 2)
        assert {"v", "user", "guilds", "session_id", "resume_gateway_url", "application"} <= ready["d"].keys()
        assert ready["d"]["guilds"] == [{"id": str(fake.guild_id), "unavailable": True}]
        assert ready["d"]["resume_gateway_url"] == fake.resume_gateway_url
        assert ready["d"]["application"]["id"] == str(fake.application_id)
        assert guild["d"]["channels"][0]["id"] == str(fake.channel_id)

        stranger = await http.ws_connect(fake.resume_gateway_url + "?v=10&encoding=json")
        await stranger.receive_json()
        await stranger.send_json({"op": 6, "d": {"token": "raw", "session_id": "nope", "seq": 1}})
        assert await stranger.receive_json() == {"op": 9, "d": False, "s": None, "t": None}
        await stranger.send_json({"op": 3, "d": {}})
        assert (await stranger.receive()).type is aiohttp.WSMsgType.CLOSE and stranger.close_code == 4003
        await ws.close()


async def test_late_callback_is_unknown_interaction() -> None:
    clock = ManualClock()
    async with start_fake_discord(clock=clock) as fake, aiohttp.ClientSession() as http:
        ws = await _raw_session(fake, http)
        sent = await fake.send_slash_command("ping")
        clock.advance(3.5)
        url = f"{fake.api_url}/interactions/{sent.id}/{sent.token}/callback"
        async with http.post(url, json={"type": 5}) as response:
            assert response.status == 404
            assert await response.json() == {"message": "Unknown interaction", "code": 10062}
        ack = await fake.wait_for_ack(sent.id)
        assert (ack.status, ack.latency) == (404, 3.5)
        await ws.close()


async def test_acks_are_single_and_tokens_expire() -> None:
    clock = ManualClock()
    async with start_fake_discord(clock=clock) as fake, aiohttp.ClientSession() as http:
        ws = await _raw_session(fake, http)
        sent = await fake.send_slash_command("ping")
        callback = f"{fake.api_url}/interactions/{sent.id}/{sent.token}/callback"
        followup = f"{fake.api_url}/webhooks/{fake.application_id}/{sent.token}?wait=true"
        async with http.post(callback, json={"type": 5}) as first:
            assert first.status == 204
        async with http.post(callback, json={"type": 5}) as again:
            assert again.status == 400 and (await again.json())["code"] == 40060
        async with http.post(followup, json={"content": "pong"}) as response:
            assert response.status == 200 and (await response.json())["content"] == "pong"
        original = f"{fake.api_url}/webhooks/{fake.application_id}/{sent.token}/messages/@original"
        async with http.get(original) as response:
            assert response.status == 200 and (await response.json())["content"] == "pong"
        clock.advance(15 * 60 + 1)
        async with http.post(followup, json={"content": "late"}) as response:
            assert response.status == 401
            assert await response.json() == {"message": "Invalid Webhook Token", "code": 50027}
        await ws.close()


async def test_original_response_can_be_deleted_and_is_then_unknown() -> None:
    async with start_fake_discord() as fake, aiohttp.ClientSession() as http:
        ws = await _raw_session(fake, http)
        sent = await fake.send_slash_command("ping")
        callback = f"{fake.api_url}/interactions/{sent.id}/{sent.token}/callback?with_response=true"
        async with http.post(callback, json={"type": 4, "data": {"content": "hi"}}) as response:
            created = await response.json()
        message_id = created["interaction"]["response_message_id"]
        assert created["resource"]["message"]["id"] == message_id
        original = f"{fake.api_url}/webhooks/{fake.application_id}/{sent.token}/messages/@original"
        async with http.delete(original) as deleted, http.get(original) as gone:
            assert deleted.status == 204 and gone.status == 404
            assert await gone.json() == {"message": "Unknown Message", "code": 10008}
        assert int(message_id) not in fake.messages
        await ws.close()


async def test_rate_limit_and_error_shapes() -> None:
    async with start_fake_discord() as fake, aiohttp.ClientSession() as http:
        auth = {"Authorization": "Bot any"}
        fake.fail_next("GET", r"^/users/@me$", retry_after=0.5)
        async with http.get(f"{fake.api_url}/users/@me", headers=auth) as limited:
            assert limited.status == 429
            assert await limited.json() == {"message": "You are being rate limited.", "retry_after": 0.5,
                                            "global": False}
            assert limited.headers["Retry-After"] == "1" and limited.headers["X-RateLimit-Remaining"] == "0"
            assert limited.headers["X-RateLimit-Reset-After"] == "0.500" and "Via" in limited.headers
        async with http.get(f"{fake.api_url}/users/@me", headers=auth) as ok:
            assert ok.status == 200 and (await ok.json())["id"] == str(fake.bot_user_id)
        async with http.get(f"{fake.api_url}/users/@me") as anonymous:
            assert anonymous.status == 401
        async with http.get(f"{fake.api_url}/nowhere", headers=auth) as missing:
            assert await missing.json() == {"message": "404: Not Found", "code": 0}
        assert [r.status for r in fake.requests] == [429, 200, 401, 404]


def _missing_keys(example: Any, ours: Any, where: str = "") -> list[str]:
    """Key paths present in the documented example but absent from ours."""
    if isinstance(example, dict):
        if not isinstance(ours, dict):
            return [where or "."]
        return [m for k, v in example.items()
                for m in ([f"{where}.{k}"] if k not in ours else _missing_keys(v, ours[k], f"{where}.{k}"))]
    if isinstance(example, list) and example and isinstance(ours, list) and ours:
        return _missing_keys(example[0], ours[0], f"{where}[0]")
    return []


async def test_interaction_payload_has_every_field_of_the_documented_example() -> None:
    example = json.loads((PAYLOADS / "interaction_slash_command.json").read_text())
    async with start_fake_discord() as fake:
        data = {"id": "1", "name": "cardsearch", "type": 1,
                "options": [{"type": 3, "name": "cardname", "value": "The Gitrog Monster"}]}
        ours = fake.world.interaction(1, "token", 2, data, None)
    assert _missing_keys(example, ours) == []


async def test_gateway_frames_have_every_field_of_the_documented_examples() -> None:
    hello_example = json.loads((PAYLOADS / "gateway_hello.json").read_text())
    message_example = json.loads((PAYLOADS / "message_create.json").read_text())
    async with start_fake_discord() as fake, aiohttp.ClientSession() as http:
        ws = await http.ws_connect(fake.gateway_url + "?v=10&encoding=json")
        assert await ws.receive_json() == hello_example
        await ws.send_json({"op": 2, "d": {"token": "raw", "intents": 1 | (1 << 9), "properties": {}}})
        assert [(await ws.receive_json())["t"] for _ in range(2)] == ["READY", "GUILD_CREATE"]
        await fake.send_user_message(f"<@{fake.bot_user_id}> how do I freeze the first layers of a model?")
        frame = await ws.receive_json()
        await ws.close()
    assert (frame["op"], frame["t"]) == (message_example["op"], message_example["t"])
    assert _missing_keys(message_example, frame) == []
    assert "user" not in frame["d"]["member"], "MESSAGE_CREATE carries a partial member, without its user"


async def test_user_messages_carry_content_only_when_they_mention_the_bot() -> None:
    async with start_fake_discord() as fake, aiohttp.ClientSession() as http:
        ws = await http.ws_connect(fake.gateway_url + "?v=10&encoding=json")
        await ws.receive_json()
        await ws.send_json({"op": 2, "d": {"token": "raw", "intents": 1 | (1 << 9), "properties": {}}})
        assert [(await ws.receive_json())["t"] for _ in range(2)] == ["READY", "GUILD_CREATE"]
        asked = await fake.send_user_message(f"<@{fake.bot_user_id}> what is a tensor?")
        await fake.send_user_message("lunch?", mention_bot=False)
        first, second = await ws.receive_json(), await ws.receive_json()
        assert (first["t"], first["d"]["id"], first["d"]["content"]) == ("MESSAGE_CREATE", asked["id"],
                                                                          asked["content"])
        assert first["d"]["mentions"][0]["id"] == str(fake.bot_user_id)
        assert second["d"]["content"] == "" and second["d"]["mentions"] == []  # no message-content intent
        assert fake.messages[int(second["d"]["id"])]["content"] == "lunch?"
        await ws.close()


async def test_a_followup_after_deleting_the_deferral_is_a_new_message() -> None:
    async with start_fake_discord() as fake, aiohttp.ClientSession() as http:
        ws = await _raw_session(fake, http)
        sent = await fake.send_slash_command("ping")
        callback = f"{fake.api_url}/interactions/{sent.id}/{sent.token}/callback"
        hook = f"{fake.api_url}/webhooks/{fake.application_id}/{sent.token}"
        async with http.post(callback, json={"type": 5}) as response:
            assert response.status == 204
        async with http.delete(f"{hook}/messages/@original") as response:
            assert response.status == 204
        async with http.post(f"{hook}?wait=true", json={"content": "private", "flags": 64}) as response:
            message = await response.json()
        assert response.status == 200 and message["content"] == "private" and message["flags"] == 64
        assert list(fake.messages) == [int(message["id"])]
        await ws.close()


# -- threads, forum posts and direct messages ----------------------------------------------------------------


def _seen(bot: TutorBot, message_id: str) -> discord.Message | None:
    return next((m for m in bot.seen if str(m.id) == message_id), None)


async def test_a_thread_started_from_a_message_shares_its_id_and_is_started_once(fake: FakeDiscord,
                                                                                  bot: TutorBot) -> None:
    asked = await fake.send_user_message(f"<@{fake.bot_user_id}> why is my loss nan?")
    await _until(lambda: _seen(bot, asked["id"]) is not None)
    message = _seen(bot, asked["id"])
    assert message is not None and isinstance(message.channel, discord.TextChannel)

    thread = await message.create_thread(name="why is my loss nan?")
    assert (thread.id, thread.parent_id, thread.type) == (message.id, fake.channel_id,
                                                         discord.ChannelType.public_thread)
    created = await fake.wait_for_frame(lambda f: f.t == "THREAD_CREATE")
    assert created.d["id"] == asked["id"] and created.d["newly_created"] is True
    assert created.d["owner_id"] == str(fake.bot_user_id) and created.d["guild_id"] == str(fake.guild_id)
    await _until(lambda: bool(bot.threads_seen))
    assert bot.get_channel(thread.id) is bot.threads_seen[0]  # in discord.py's cache, from THREAD_CREATE
    starter = fake.messages[message.id]
    assert starter["flags"] & HAS_THREAD and starter["thread"]["id"] == asked["id"]
    assert list(fake.threads) == [message.id]

    with pytest.raises(discord.HTTPException) as again:
        await message.create_thread(name="again")
    assert (again.value.status, again.value.code) == (400, 160004)

    posted = await thread.send("Check the learning rate.")
    assert fake.messages[posted.id]["channel_id"] == str(thread.id)
    follow = await fake.send_user_message("it was 10, thanks", mention_bot=False, channel_id=thread.id)
    await _until(lambda: _seen(bot, follow["id"]) is not None)
    reply = _seen(bot, follow["id"])
    assert reply is not None and isinstance(reply.channel, discord.Thread) and reply.channel.id == thread.id
    assert reply.content == ""  # no message-content intent, no mention: Discord leaves the content out
    assert [m["id"] for m in fake.messages_in(thread.id)] == [str(posted.id), follow["id"]]
    assert fake.threads[thread.id]["message_count"] == 2
    assert [m["channel_id"] for m in fake.bot_messages()] == [str(thread.id)]

    assert isinstance(await bot.fetch_channel(thread.id), discord.Thread)
    assert isinstance(await bot.fetch_channel(fake.channel_id), discord.TextChannel)


async def test_interactions_in_a_thread_come_from_the_thread(fake: FakeDiscord, bot: TutorBot) -> None:
    asked = await fake.send_user_message("a question", mention_bot=False)
    thread = await fake.start_user_thread(int(asked["id"]), "a question")
    sent = await fake.send_slash_command("ping", channel_id=int(thread["id"]))
    interaction = next(f for f in fake.gateway_frames if f.t == "INTERACTION_CREATE")
    assert interaction.d["channel_id"] == thread["id"] and interaction.d["channel"]["parent_id"] == str(
        fake.channel_id)
    ack = await fake.wait_for_ack(sent.id)
    await fake.wait_for(lambda r: r in _followups(fake, sent.token))
    assert ack.message_id is not None and fake.messages[ack.message_id]["channel_id"] == thread["id"]
    assert fake.messages[int(asked["id"])]["thread"]["owner_id"] == str(fake.user_id)


async def test_a_forum_post_is_a_thread_and_its_starter_message(fake: FakeDiscord, bot: TutorBot) -> None:
    assert isinstance(bot.get_channel(fake.forum_id), discord.ForumChannel)
    starter = await fake.send_forum_post("CUDA out of memory", "my 4090 runs out of memory at batch 64")
    await _until(lambda: _seen(bot, starter["id"]) is not None)
    message = _seen(bot, starter["id"])
    assert message is not None and isinstance(message.channel, discord.Thread)
    assert message.channel.id == message.id and message.channel.parent_id == fake.forum_id
    assert isinstance(message.channel.parent, discord.ForumChannel) and message.channel.name == "CUDA out of memory"
    order = [f.t for f in fake.gateway_frames if f.t in {"THREAD_CREATE", "MESSAGE_CREATE"}]
    assert order == ["THREAD_CREATE", "MESSAGE_CREATE"]
    assert fake.threads[message.id]["message_count"] == 0  # the starter message is not counted
    with pytest.raises(discord.HTTPException) as refused:
        await bot.http.send_message(fake.forum_id, params=discord.http.handle_message_parameters(content="hi"))
    assert (refused.value.status, refused.value.code) == (400, 50008)


async def test_a_direct_message_and_the_bots_answer_in_the_dm_channel(fake: FakeDiscord, bot: TutorBot) -> None:
    sent = await fake.send_dm("how do I freeze a layer?")
    await _until(lambda: _seen(bot, sent["id"]) is not None)
    message = _seen(bot, sent["id"])
    assert message is not None and message.guild is None and isinstance(message.channel, discord.DMChannel)
    assert message.content == "how do I freeze a layer?"  # DMs carry content without the privileged intent
    answer = await message.channel.send("Set requires_grad=False.")
    assert fake.messages[answer.id]["channel_id"] == str(fake.dm_channel_id)
    echo = await fake.wait_for_frame(lambda f: f.t == "MESSAGE_CREATE" and f.d["id"] == str(answer.id))
    assert "guild_id" not in echo.d and "member" not in echo.d

    opened = await bot.http.start_private_message(fake.user_id)
    assert (opened["id"], opened["type"]) == (str(fake.dm_channel_id), 1)
    assert isinstance(await bot.fetch_channel(fake.dm_channel_id), discord.DMChannel)
    await answer.delete()
    deleted = await fake.wait_for_frame(lambda f: f.t == "MESSAGE_DELETE")
    assert deleted.d == {"id": str(answer.id), "channel_id": str(fake.dm_channel_id)}


async def test_thread_and_dm_rules_at_the_wire() -> None:
    async with start_fake_discord() as fake, aiohttp.ClientSession() as http:
        ws = await http.ws_connect(fake.gateway_url + "?v=10&encoding=json")
        await ws.receive_json()
        await ws.send_json({"op": 2, "d": {"token": "raw", "intents": 1 | (1 << 9), "properties": {}}})
        assert [(await ws.receive_json())["t"] for _ in range(2)] == ["READY", "GUILD_CREATE"]
        auth = {"Authorization": "Bot raw"}
        api = fake.api_url

        async with http.post(f"{api}/channels/{fake.channel_id + 999}/messages", json={"content": "x"},
                             headers=auth) as unknown:
            assert unknown.status == 404 and (await unknown.json())["code"] == 10003
        async with http.get(f"{api}/channels/{fake.dm_channel_id}", headers=auth) as unopened:
            assert unopened.status == 404  # no DM channel until someone opens it

        await fake.send_dm("hello?")  # no DIRECT_MESSAGES intent in this session: nothing arrives
        asked = await fake.send_user_message("why nan", mention_bot=False)
        frame = await ws.receive_json()
        assert frame["t"] == "MESSAGE_CREATE" and frame["d"]["id"] == asked["id"]
        threads = f"{api}/channels/{fake.channel_id}/messages/{asked['id']}/threads"
        async with http.post(threads, json={"name": "x" * 101}, headers=auth) as too_long:
            assert too_long.status == 400 and (await too_long.json())["code"] == 50035
        async with http.post(threads, json={"name": "why nan"}, headers=auth) as created:
            thread = await created.json()
        assert created.status == 200 and thread["id"] == asked["id"] and thread["type"] == 11
        assert {"parent_id", "owner_id", "thread_metadata", "message_count", "member_count"} <= thread.keys()
        frame = await ws.receive_json()
        assert (frame["t"], frame["d"]["id"], frame["d"]["newly_created"]) == ("THREAD_CREATE", asked["id"], True)
        async with http.post(threads, json={"name": "again"}, headers=auth) as again:
            assert again.status == 400 and await again.json() == {
                "message": "A thread has already been created for this message", "code": 160004}
        in_thread = f"{api}/channels/{thread['id']}/messages"
        async with http.post(f"{in_thread}/{asked['id']}/threads", json={"name": "nested"}, headers=auth) as nested:
            assert nested.status == 400 and (await nested.json())["code"] == 50024

        follow = await fake.send_user_message("still nan", mention_bot=False, channel_id=int(thread["id"]))
        frame = await ws.receive_json()
        assert frame["d"]["id"] == follow["id"] and frame["d"]["channel_id"] == thread["id"]
        assert frame["d"]["guild_id"] == str(fake.guild_id) and "member" in frame["d"]
        assert frame["d"]["content"] == ""  # no message-content intent
        async with http.post(in_thread, json={"content": "try a smaller lr"}, headers=auth) as posted:
            assert posted.status == 200 and (await posted.json())["channel_id"] == thread["id"]
        assert (await ws.receive_json())["d"]["channel_id"] == thread["id"]  # the bot's own message, echoed
        await ws.close()

        again_ws = await http.ws_connect(fake.gateway_url + "?v=10&encoding=json")
        await again_ws.receive_json()
        await again_ws.send_json({"op": 2, "d": {"token": "raw", "intents": 1 | (1 << 12), "properties": {}}})
        _ready, guild = await again_ws.receive_json(), await again_ws.receive_json()
        assert [t["id"] for t in guild["d"]["threads"]] == [thread["id"]]  # active threads arrive with the guild
        sent = await fake.send_dm("hello again")
        frame = await again_ws.receive_json()
        assert frame["t"] == "MESSAGE_CREATE" and frame["d"]["channel_id"] == str(fake.dm_channel_id)
        assert frame["d"]["content"] == "hello again" and "guild_id" not in frame["d"] and "member" not in frame["d"]
        assert sent["id"] == frame["d"]["id"] and not fake.messages[int(sent["id"])]["flags"] & EPHEMERAL
        await again_ws.close()
