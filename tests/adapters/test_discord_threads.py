"""Threads, "Ask torchtutor", auto-answer channels and DMs on Discord (#18), through the real discord.py client
and the loopback Discord: where each message reaches the core, and where the bot's answer lands."""

from __future__ import annotations

import inspect
import os
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from bot.adapters.discord import intents
from bot.core.conversation import Button, Reply, Request
from bot.core.tutor import Tutor
from tests.adapters.discord_transcript import chat_log
from tests.adapters.test_discord import fake, real_client, running, until  # noqa: F401 - `fake` is a fixture
from tests.fakes.discord_server import EPHEMERAL, FakeDiscord

if TYPE_CHECKING:
    from bot.runtime import Runtime

ERROR = "RuntimeError: Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!"
WITH_CONTENT = {"intents": intents(message_content=True)}


class ThreadTutor(Tutor):
    """Records every request; answers questions, follow-ups and "Ask torchtutor", auto-answers only posts that end
    with "?", posts an answer in a thread on "Post in thread", and retracts on 👎."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Request] = []
        self.finished: list[Request] = []  # auto-asks the core is done with (every reply of theirs delivered)
        for name in ("ask", "thread_reply", "ask_message"):
            self.command(name, self._answer)
        self.command("autoask", self._autoask)
        self.action("ask", self._post)
        self.action("feedback", self._feedback)

    async def _answer(self, request: Request) -> Reply:
        self.requests.append(request)
        if request.command == "ask_message":
            return Reply(f"about {request.target}", title="Device mismatch", ephemeral=True, kind="answer",
                         buttons=(Button(f"ask:post:7:{request.target}", "Post in thread"),))
        # Plain text, no embed: its echo reaches the bot with that text, which must not take it for a follow-up.
        return Reply(f"answer to {request.text}", kind="answer")

    async def _autoask(self, request: Request) -> AsyncIterator[Reply]:
        self.requests.append(request)
        try:
            if request.text.endswith("?"):
                yield Reply(f"auto answer to {request.text}", title="An answer", kind="autoanswer",
                            buttons=(Button("feedback:down:9", "👎"),))
            elif "boom" in request.text:
                yield Reply("Sorry, something went wrong on my side.", ephemeral=True, kind="error")
        finally:
            self.finished.append(request)

    async def _post(self, request: Request) -> Reply:
        self.requests.append(request)
        target = (request.action or "").rsplit(":", 1)[-1]
        return Reply("The device entry, for everyone.", title="Device mismatch", in_thread_of=target)

    async def _feedback(self, request: Request) -> Reply:
        self.requests.append(request)
        return Reply("Removed my answer for everyone.", ephemeral=True, kind="feedback", retracts=True)


def made(tutor: ThreadTutor, command: str) -> list[Request]:
    return [r for r in tutor.requests if r.command == command]


def bot_posts(server: FakeDiscord, channel_id: int | str) -> list[dict[str, Any]]:
    """What everyone sees the bot post in a channel (a thread, a DM)."""
    return [m for m in server.bot_messages() if m["channel_id"] == str(channel_id) and not m["flags"] & EPHEMERAL]


def text_of(message: dict[str, Any]) -> str:
    return message["content"] + "".join(e.get("description") or "" for e in message["embeds"])


def thread_starts(server: FakeDiscord) -> list[Any]:
    """Every Start Thread from Message request."""
    return server.requests_to("POST", r"^/channels/\d+/messages/\d+/threads$")


async def test_a_top_level_mention_is_answered_in_a_thread_started_on_it(fake: FakeDiscord) -> None:  # noqa: F811
    tutor = ThreadTutor()
    question = "why is my loss nan after a few epochs when I train " + "a very deep network " * 5 + "?"
    async with running(fake, tutor):
        asked = await fake.send_user_message(f"<@{fake.bot_user_id}> {question}")
        thread_id = int(asked["id"])
        [answer] = await until(lambda: bot_posts(fake, thread_id))
        assert "answer to why is my loss nan" in text_of(answer)
        [start] = thread_starts(fake)
        assert start.path == f"/channels/{fake.channel_id}/messages/{thread_id}/threads" and start.status == 200
        name = fake.threads[thread_id]["name"]
        assert len(name) <= 100 and name.endswith("…") and name.startswith("why is my loss nan")
        assert fake.threads[thread_id]["owner_id"] == str(fake.bot_user_id)
        posted = await fake.wait_for(lambda r: r.method == "POST" and r.path == f"/channels/{thread_id}/messages")
        assert "message_reference" not in posted.json  # the thread hangs on the question: no reply pointer
        assert posted.json["allowed_mentions"]["parse"] == []
        assert bot_posts(fake, fake.channel_id) == []  # nothing in the channel itself
    [request] = tutor.requests
    assert (request.command, request.text) == ("ask", question)
    assert (request.channel_id, request.thread_id, request.target) == (str(fake.channel_id), asked["id"], asked["id"])
    assert request.channel_name == "pytorch-help" and not request.is_direct


@pytest.mark.parametrize("refusal", [403, 404])  # Missing Permissions; Unknown Message (deleted meanwhile)
async def test_where_discord_refuses_the_thread_the_mention_is_answered_in_the_channel(
        fake: FakeDiscord, refusal: int) -> None:  # noqa: F811
    tutor = ThreadTutor()
    async with running(fake, tutor):
        fake.fail_next("POST", r"/threads$", status=refusal, times=5)
        asked = await fake.send_user_message(f"<@{fake.bot_user_id}> what is a tensor?")
        [answer] = await until(lambda: bot_posts(fake, fake.channel_id))
        assert answer["message_reference"]["message_id"] == asked["id"]
        assert fake.threads == {} and all(r.status == refusal for r in thread_starts(fake))
    assert tutor.requests[0].thread_id == asked["id"]


async def test_follow_ups_in_the_thread_reach_the_core_with_the_threads_id(fake: FakeDiscord) -> None:  # noqa: F811
    tutor = ThreadTutor()
    async with running(fake, tutor, **WITH_CONTENT):
        asked = await fake.send_user_message(f"<@{fake.bot_user_id}> what is a DataLoader?")
        thread_id = int(asked["id"])
        await until(lambda: bot_posts(fake, thread_id))

        mention = await fake.send_user_message(f"<@{fake.bot_user_id}> and with shuffle?", channel_id=thread_id)
        await until(lambda: len(bot_posts(fake, thread_id)) == 2)
        reply = await fake.wait_for(lambda r: r.method == "POST" and r.path == f"/channels/{thread_id}/messages"
                                    and "and with shuffle" in str(r.json))
        assert str(reply.json["message_reference"]["message_id"]) == mention["id"]

        follow = await fake.send_user_message("and how many workers should it have", mention_bot=False,
                                              channel_id=thread_id)
        await until(lambda: len(bot_posts(fake, thread_id)) == 3)
        assert "answer to and how many workers" in text_of(bot_posts(fake, thread_id)[-1])
        await fake.send_user_message(f"<@{fake.bot_user_id}> last one", channel_id=thread_id)
        await until(lambda: len(bot_posts(fake, thread_id)) == 4)
        assert len(thread_starts(fake)) == 1 and list(fake.threads) == [thread_id]
        assert bot_posts(fake, fake.channel_id) == []
    # The bot's own posts (echoed with their content: the intent is on) never reach the core.
    assert [r.command for r in tutor.requests] == ["ask", "ask", "thread_reply", "ask"]
    _, in_thread, reply_request, _ = tutor.requests
    assert (in_thread.text, in_thread.thread_id, in_thread.channel_id, in_thread.target) == (
        "and with shuffle?", asked["id"], str(fake.channel_id), mention["id"])
    assert (reply_request.text, reply_request.thread_id, reply_request.channel_id, reply_request.target) == (
        "and how many workers should it have", asked["id"], str(fake.channel_id), follow["id"])


async def test_new_posts_are_auto_asked_and_get_a_thread_only_with_an_answer(fake: FakeDiscord) -> None:  # noqa: F811
    tutor = ThreadTutor()
    async with running(fake, tutor, **WITH_CONTENT):
        lunch = await fake.send_user_message("anyone around for lunch later", mention_bot=False)
        broken = await fake.send_user_message("this boom is not a question", mention_bot=False)
        await until(lambda: {r.target for r in tutor.finished} == {lunch["id"], broken["id"]})
        assert thread_starts(fake) == [] and fake.threads == {} and fake.bot_messages() == []

        asked = await fake.send_user_message("how do I freeze a layer?", mention_bot=False)
        thread_id = int(asked["id"])
        [answer] = await until(lambda: bot_posts(fake, thread_id))
        assert "auto answer to how do I freeze a layer?" in text_of(answer)
        assert list(fake.threads) == [thread_id] and fake.threads[thread_id]["name"] == "how do I freeze a layer?"
    assert [r.command for r in tutor.requests] == ["autoask"] * 3
    request = tutor.requests[-1]
    assert (request.channel_id, request.thread_id, request.target) == (str(fake.channel_id), asked["id"], asked["id"])
    assert fake.bot_messages() == [answer]  # the private error for the "boom" post was dropped, not shown


async def test_a_forum_post_is_auto_asked_and_answered_in_its_own_thread(fake: FakeDiscord) -> None:  # noqa: F811
    tutor = ThreadTutor()
    async with running(fake, tutor, **WITH_CONTENT):
        starter = await fake.send_forum_post("NaN loss", "why is my loss nan?")
        thread_id = int(starter["id"])
        [answer] = await until(lambda: bot_posts(fake, thread_id))
        assert "auto answer to why is my loss nan?" in text_of(answer)
        assert thread_starts(fake) == []  # the post is its own thread
    [request] = tutor.requests
    assert (request.command, request.channel_id, request.thread_id) == ("autoask", str(fake.forum_id), starter["id"])
    assert request.channel_name == "pytorch-forum"


async def test_without_the_message_content_intent_unaddressed_posts_are_ignored(fake: FakeDiscord) -> None:  # noqa: F811
    tutor = ThreadTutor()
    async with running(fake, tutor):
        identify = await fake.wait_for_frame(lambda f: f.direction == "in" and f.op == 2)
        assert not identify.d["intents"] & (1 << 15)
        asked = await fake.send_user_message(f"<@{fake.bot_user_id}> what is a DataLoader?")
        thread_id = int(asked["id"])
        await until(lambda: bot_posts(fake, thread_id))
        await fake.send_user_message("how do I freeze a layer?", mention_bot=False)
        await fake.send_user_message("and how many workers?", mention_bot=False, channel_id=thread_id)
        await fake.send_user_message(f"<@{fake.bot_user_id}> last one", channel_id=thread_id)
        await until(lambda: len(tutor.requests) == 2)
        await until(lambda: len(bot_posts(fake, thread_id)) == 2)
    assert [(r.command, r.text) for r in tutor.requests] == [("ask", "what is a DataLoader?"), ("ask", "last one")]
    assert list(fake.threads) == [thread_id]


async def test_ask_torchtutor_answers_privately_about_the_message(fake: FakeDiscord) -> None:  # noqa: F811
    tutor = ThreadTutor()
    content = f"my model fails:\n```\nTraceback (most recent call last):\n{ERROR}\n```"
    async with running(fake, tutor):
        synced = {(c["name"], c.get("type", 1)) for c in fake.commands[None]}
        assert ("Ask torchtutor", 3) in synced and ("autoanswer", 1) in synced
        message = await fake.send_user_message(content, mention_bot=False)
        sent = await fake.send_message_command("Ask torchtutor", int(message["id"]))
        ack = await fake.wait_for_ack(sent.id)
        assert ack.callback_type == 5 and ack.body["data"]["flags"] & EPHEMERAL and ack.latency < 0.5
        await until(lambda: "Post in thread" in str(fake.messages.get(ack.message_id, {})))
        answer = fake.messages[ack.message_id]
        assert answer["flags"] & EPHEMERAL and f"about {message['id']}" in text_of(answer)
        assert fake.threads == {}  # nothing public yet
    [request] = tutor.requests
    assert (request.command, request.text, request.target) == ("ask_message", content, message["id"])
    assert (request.channel_id, request.thread_id) == (str(fake.channel_id), "")


@pytest.mark.parametrize("where", ["new thread", "existing thread", "inside a thread"])
async def test_post_in_thread_posts_the_answer_publicly_in_the_messages_thread(
        fake: FakeDiscord, where: str) -> None:  # noqa: F811
    tutor = ThreadTutor()
    async with running(fake, tutor):
        message = await fake.send_user_message(f"help:\n{ERROR}", mention_bot=False)
        thread_id = int(message["id"])
        if where == "existing thread":
            await fake.start_user_thread(thread_id, "device trouble")
        if where == "inside a thread":
            await fake.start_user_thread(thread_id, "device trouble")
            message = await fake.send_user_message(f"still:\n{ERROR}", mention_bot=False, channel_id=thread_id)
        sent = await fake.send_message_command("Ask torchtutor", int(message["id"]))
        ack = await fake.wait_for_ack(sent.id)
        await until(lambda: "Post in thread" in str(fake.messages.get(ack.message_id, {})))
        assert ack.message_id is not None
        press = await fake.send_button_press(ack.message_id, f"ask:post:7:{message['id']}")
        assert (await fake.wait_for_ack(press.id)).status < 300
        [posted] = await until(lambda: bot_posts(fake, thread_id))
    assert "The device entry, for everyone." in text_of(posted) and not posted["flags"] & EPHEMERAL
    assert "webhook_id" not in posted  # posted with the bot's token, not the interaction's webhook
    starts = thread_starts(fake)
    expected = {"new thread": [200], "existing thread": [400], "inside a thread": []}[where]
    assert [r.status for r in starts] == expected  # 400: 160004, the thread that is there already is used
    assert fake.threads[thread_id]["owner_id"] == str(fake.user_id if where != "new thread" else fake.bot_user_id)
    ask_message, pressed = tutor.requests
    assert pressed.action == f"ask:post:7:{message['id']}"
    in_thread = where == "inside a thread"
    assert (ask_message.thread_id, pressed.thread_id) == ((str(thread_id),) * 2 if in_thread else ("", ""))
    assert ask_message.channel_id == pressed.channel_id == str(fake.channel_id)


async def test_a_retracting_reply_deletes_the_pressed_answer_for_everyone(fake: FakeDiscord) -> None:  # noqa: F811
    tutor = ThreadTutor()
    async with running(fake, tutor, **WITH_CONTENT):
        asked = await fake.send_user_message("how do I freeze a layer?", mention_bot=False)
        thread_id = int(asked["id"])
        [answer] = await until(lambda: bot_posts(fake, thread_id))
        press = await fake.send_button_press(int(answer["id"]), "feedback:down:9")
        assert (await fake.wait_for_ack(press.id)).status < 300
        deleted = await fake.wait_for(lambda r: r.method == "DELETE")
        assert (deleted.path, deleted.status) == (f"/channels/{thread_id}/messages/{answer['id']}", 204)
        assert deleted.headers["Authorization"].startswith("Bot ")
        note = await fake.wait_for(lambda r: r.method == "POST" and r.path.startswith(
            f"/webhooks/{fake.application_id}/{press.token}"))
        assert note.json["flags"] & EPHEMERAL and note.json["content"] == "Removed my answer for everyone."
        assert int(answer["id"]) not in fake.messages
    pressed = tutor.requests[-1]
    assert (pressed.action, pressed.channel_id, pressed.thread_id) == ("feedback:down:9", str(fake.channel_id),
                                                                       asked["id"])


async def test_a_slash_command_in_a_thread_names_the_channel_and_the_thread(fake: FakeDiscord) -> None:  # noqa: F811
    tutor = ThreadTutor()
    async with running(fake, tutor):
        message = await fake.send_user_message("a question", mention_bot=False)
        await fake.start_user_thread(int(message["id"]), "a question")
        sent = await fake.send_slash_command("ask", {"question": "what is autograd?"}, channel_id=int(message["id"]))
        ack = await fake.wait_for_ack(sent.id)
        await until(lambda: "answer to what is autograd?" in str(fake.messages.get(ack.message_id, {})))
        assert fake.messages[ack.message_id]["channel_id"] == message["id"]
    [request] = tutor.requests
    assert (request.channel_id, request.thread_id, request.channel_name) == (
        str(fake.channel_id), message["id"], "pytorch-help")


async def test_a_direct_message_is_answered_in_the_dm_channel(fake: FakeDiscord) -> None:  # noqa: F811
    tutor = ThreadTutor()
    async with running(fake, tutor):
        await fake.send_dm("what is a tensor?")
        [answer] = await until(lambda: bot_posts(fake, fake.dm_channel_id))
        assert "answer to what is a tensor?" in text_of(answer)
        await fake.send_dm("/help")
        await until(lambda: len(bot_posts(fake, fake.dm_channel_id)) == 2)
        assert "/ask" in text_of(bot_posts(fake, fake.dm_channel_id)[1])
        assert thread_starts(fake) == [] and fake.threads == {}
    [request] = tutor.requests
    assert (request.command, request.is_direct, request.channel_id, request.thread_id, request.workspace_id) == (
        "ask", True, str(fake.dm_channel_id), "", "")


# -- the real runtime, end to end ---------------------------------------------------------------------------

DATALOADER = "what is a DataLoader?"
WORKERS_FOLLOW_UP = "and how many workers should it have?"
WORKERS_ENTRY = "how-does-num-workers-in-a-dataloader-work-and-what-value-should-i-use"
DEVICE_ENTRY = "how-do-i-fix-expected-all-tensors-to-be-on-the-same-device"
CLEAR = "How do I save a model's weights and load them back?"
UNCLEAR = "anyone around for lunch later? my code is slow"
REAL_WAIT = 60.0  # the first answers of a fresh runtime encode on two shared cores


@pytest.fixture
def transcript(fake: FakeDiscord, request: pytest.FixtureRequest) -> Iterator[None]:  # noqa: F811
    """Appends what happened on the fake to the file named by TORCHTUTOR_TEST_DISCORD_TRANSCRIPT, if set."""
    yield
    path = os.environ.get("TORCHTUTOR_TEST_DISCORD_TRANSCRIPT")
    if path:
        doc = inspect.cleandoc(request.function.__doc__ or request.node.name)
        with open(path, "a", encoding="utf-8") as out:
            out.write(f"\n## {request.node.name}\n\n{doc}\n\n" + "\n".join(chat_log(fake)) + "\n")


def cited(message: dict[str, Any]) -> str:
    footer = (message["embeds"][0].get("footer") or {}).get("text", "") if message["embeds"] else ""
    return footer.removeprefix("Source: ").split(" ")[0]


def stored(runtime: Runtime, text: str) -> list[tuple[str, str | None]]:
    from sqlalchemy import select

    from bot.db.models import Question

    with runtime.database.session() as session:
        rows = session.scalars(select(Question).where(Question.text == text).order_by(Question.id))
        return [(q.status, q.entry_id) for q in rows]


async def test_real_mention_thread_follow_up_and_dm(fake: FakeDiscord, runtime: Runtime,  # noqa: F811
                                                    transcript: None) -> None:
    """A mention is answered in a new thread; a follow-up there without a mention, which alone is declined, is
    answered with the thread's question as context; the same words in a DM, alone, are declined."""
    async with real_client(fake, runtime, discord_message_content=True):
        identify = await fake.wait_for_frame(lambda f: f.direction == "in" and f.op == 2)
        assert identify.d["intents"] & (1 << 15)  # discord_message_content=True asks for the intent
        asked = await fake.send_user_message(f"<@{fake.bot_user_id}> {DATALOADER}")
        thread_id = int(asked["id"])
        [first] = await until(lambda: bot_posts(fake, thread_id), timeout=REAL_WAIT)
        assert cited(first) and first["embeds"][0]["title"] != "No answer yet"
        assert fake.threads[thread_id]["name"] == DATALOADER and bot_posts(fake, fake.channel_id) == []

        await fake.send_user_message(WORKERS_FOLLOW_UP, mention_bot=False, channel_id=thread_id)
        follow = await until(lambda: bot_posts(fake, thread_id)[1:], timeout=REAL_WAIT)
        assert cited(follow[0]) == WORKERS_ENTRY
        assert text_of(follow[0]).startswith(f"_A follow-up to “{DATALOADER}”, so I read the two together")

        await fake.send_dm(WORKERS_FOLLOW_UP)
        [alone] = await until(lambda: bot_posts(fake, fake.dm_channel_id), timeout=REAL_WAIT)
        assert alone["embeds"][0]["title"] == "No answer yet" and not cited(alone)
        await fake.send_dm("How do I move a tensor to the GPU?")
        answered = await until(lambda: bot_posts(fake, fake.dm_channel_id)[1:], timeout=REAL_WAIT)
        assert cited(answered[0]) and "GPU" in text_of(answered[0])
    assert stored(runtime, WORKERS_FOLLOW_UP) == [("answered", WORKERS_ENTRY), ("no_match", None)]
    assert list(fake.threads) == [thread_id]


async def test_real_ask_torchtutor_on_a_traceback_then_post_in_thread(fake: FakeDiscord, runtime: Runtime,  # noqa: F811
                                                                      transcript: None) -> None:
    """"Ask torchtutor" on a pasted device error answers privately with the device entry; "Post in thread"
    posts it for everyone in a thread on that message. The channel has no auto-answers: the post itself is
    left alone."""
    content = f"my training loop dies here, any idea?\n```\nTraceback (most recent call last):\n{ERROR}\n```"
    async with real_client(fake, runtime, discord_message_content=True):
        message = await fake.send_user_message(content, mention_bot=False)
        sent = await fake.send_message_command("Ask torchtutor", int(message["id"]))
        ack = await fake.wait_for_ack(sent.id)
        assert ack.callback_type == 5 and ack.body["data"]["flags"] & EPHEMERAL and ack.latency < 1.0
        await until(lambda: cited(fake.messages.get(ack.message_id) or {"embeds": []}), timeout=REAL_WAIT)
        private = fake.messages[ack.message_id]
        assert private["flags"] & EPHEMERAL and cited(private) == DEVICE_ENTRY
        post = next(c for row in private["components"] for c in row["components"] if c["label"] == "Post in thread")
        assert post["custom_id"].startswith("ask:post:") and post["custom_id"].endswith(f":{message['id']}")
        assert fake.threads == {} and bot_posts(fake, fake.channel_id) == []

        press = await fake.send_button_press(ack.message_id, post["custom_id"])
        assert (await fake.wait_for_ack(press.id)).status < 300
        thread_id = int(message["id"])
        [public] = await until(lambda: bot_posts(fake, thread_id), timeout=REAL_WAIT)
        assert cited(public) == DEVICE_ENTRY and not public["flags"] & EPHEMERAL
        assert fake.threads[thread_id]["owner_id"] == str(fake.bot_user_id)
    assert stored(runtime, content) == []  # not an auto-answer channel: the post was neither answered nor kept


async def test_real_autoanswer_channel_answers_when_sure_and_notes_the_rest(fake: FakeDiscord,  # noqa: F811
                                                                           runtime: Runtime,
                                                                           transcript: None) -> None:
    """`/autoanswer on`; a clear question posted without a mention is answered in its own new thread; an unclear
    post gets nothing, no thread, and is noted as a gap; the asker's 👎 removes the auto-answer."""
    async with real_client(fake, runtime, discord_message_content=True):
        switched = await fake.send_slash_command("autoanswer", {"action": "on"})
        ack = await fake.wait_for_ack(switched.id)
        await until(lambda: "**on**" in str(fake.messages.get(ack.message_id, {})), timeout=REAL_WAIT)

        unclear = await fake.send_user_message(UNCLEAR, mention_bot=False)
        clear = await fake.send_user_message(CLEAR, mention_bot=False)
        thread_id = int(clear["id"])
        [answer] = await until(lambda: bot_posts(fake, thread_id), timeout=REAL_WAIT)
        assert "save" in cited(answer) and "Your 👎 removes this answer" in text_of(answer)
        await until(lambda: stored(runtime, UNCLEAR), timeout=REAL_WAIT)
        assert stored(runtime, UNCLEAR) == [("no_match", None)]
        assert int(unclear["id"]) not in fake.threads and list(fake.threads) == [thread_id]

        down = next(c["custom_id"] for row in answer["components"] for c in row["components"]
                    if c["custom_id"].startswith("feedback:down:"))
        press = await fake.send_button_press(int(answer["id"]), down)
        deleted = f"/channels/{thread_id}/messages/{answer['id']}"
        await fake.wait_for(lambda r: r.method == "DELETE" and r.path == deleted)
        note = await fake.wait_for(lambda r: r.method == "POST" and r.path.startswith(
            f"/webhooks/{fake.application_id}/{press.token}"), timeout=REAL_WAIT)
        assert note.json["flags"] & EPHEMERAL and note.json["content"].startswith("Removed my answer for everyone")
        assert bot_posts(fake, thread_id) == []
    assert stored(runtime, CLEAR)[0][0] == "answered"
