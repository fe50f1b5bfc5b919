"""Slack where people already talk (#18): mentions answered in their thread, follow-ups in a thread, new posts
in auto-answer channels, and the "Ask torchtutor" message shortcut, through the real Bolt app on signed
requests. The loopback Slack builds what Slack would deliver for a person's message (message.channels and, for
a mention, app_mention) and records what the bot posts, privately or for everyone, and where.

A scripted Tutor records the requests the adapter makes, so each test says both what the core was asked and
what Slack shows.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from fastapi import FastAPI
from fastapi import Request as HttpRequest

from bot.adapters.slack import SlackAdapter, translate
from bot.adapters.slack.delivery import NOT_A_MEMBER, EditPacer
from bot.adapters.slack.http import handle_events
from bot.config import Settings
from bot.core.conversation import Button, Reply, Request
from bot.core.tutor import Tutor
from bot.db.engine import Database
from tests.adapters.test_slack import (  # noqa: F401 - `real` is a fixture
    PREFIX,
    SECRET,
    STEVE,
    _signed,
    _until,
    all_text,
    block_of_value,
    button_body,
    posted_in,
    real,
    slash_fields,
)
from tests.fakes.slack_api import FakeSlack, form_body

RIVER = "UA8RXUSPL"  # who presses buttons in the documented block_actions payload
CHANNEL = "CGENERAL"
QUESTION = "how do I move a tensor to the GPU?"
DEVICE_ERROR = ("RuntimeError: Expected all tensors to be on the same device, but found at least two devices, "
                "cuda:0 and cpu!")
Script = Callable[[Request], list[Reply]]


class ScriptedTutor:
    """A Tutor whose commands and buttons answer from a script and record every request."""

    COMMANDS = ("ask", "thread_reply", "autoask", "ask_message")

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.script: dict[str, Script] = {
            "ask": lambda r: [Reply(f"Answer: {r.text}", title="Moving tensors",
                                    buttons=(Button("feedback:down:1", "Not helpful"),))],
            "thread_reply": lambda r: [Reply(f"Follow-up: {r.text}")],
            "autoask": lambda r: [],
            # Not marked private: the shortcut's answer must stay private whatever the core marks.
            "ask_message": lambda r: [Reply(f"Privately: {r.text}",
                                            buttons=(Button(f"ask:post:7:{r.target}", "Post in thread"),))],
        }
        self.tutor = Tutor()
        for name in self.COMMANDS:
            self.tutor.command(name, self._handle)
        for prefix in ("ask", "feedback"):
            self.tutor.action(prefix, self._handle)

    async def _handle(self, request: Request) -> AsyncIterator[Reply]:
        """The script's replies for the command, or for the longest scripted prefix of the pressed button."""
        self.requests.append(request)
        pressed = request.action or ""
        key = max((k for k in self.script if pressed.startswith(k + ":")), key=len, default=request.command)
        for reply in self.script.get(key, lambda r: [])(request):
            yield reply

    def asked(self, command: str) -> list[Request]:
        return [r for r in self.requests if r.command == command]


@pytest.fixture
async def slack(migrated: Settings) -> AsyncIterator[tuple[SlackAdapter, ScriptedTutor, FakeSlack,
                                                           httpx.AsyncClient]]:
    with FakeSlack() as fake:
        fake.add_user(STEVE, "Steve", admin=True)
        fake.add_user(RIVER, "River")
        settings = Settings(database_url=migrated.database_url, slack_bot_token="xoxb-test-token",
                            slack_signing_secret=SECRET, slack_api_url=fake.api_url, slack_command_prefix=PREFIX)
        scripted = ScriptedTutor()
        database = Database.from_url(settings.database_url)
        adapter = SlackAdapter(tutor=scripted.tutor, settings=settings, database=database,
                               pacer=EditPacer(min_interval=0.2))
        app = FastAPI()

        @app.post("/slack/events")
        async def events(request: HttpRequest):  # type: ignore[no-untyped-def]
            return await handle_events(adapter, request)  # the served endpoint: signature, shape, replay checks

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://slack.test") as client:
            yield adapter, scripted, fake, client
            await adapter.aclose(timeout=10)
        database.dispose()


async def deliver(client: httpx.AsyncClient, events: list[dict[str, Any]]) -> None:
    """Send Slack's deliveries of one message, each signed; every one is acknowledged."""
    for event in events:
        response, took = await _signed(client, json.dumps(event), "application/json")
        assert response.status_code == 200 and took < 3.0


async def say(client: httpx.AsyncClient, fake: FakeSlack, text: str, *, channel: str = CHANNEL,
              user: str = STEVE, thread_ts: str | None = None) -> str:
    """A person posts; Slack's deliveries of it reach the app. The message's ts."""
    ts, events = fake.user_posts(channel, user, text, thread_ts=thread_ts)
    await deliver(client, events)
    return ts


def shortcut_body(fake: FakeSlack, channel: str, ts: str, response_url: str,
                  callback_id: str = translate.ASK_SHORTCUT) -> str:
    payload = fake.message_shortcut(callback_id, channel, ts, user=RIVER, response_url=response_url)
    return urlencode({"payload": json.dumps(payload)})


def press_body(value: str, *, channel: str, message: dict[str, Any], response_url: str,
               ephemeral: bool = False) -> str:
    """The documented block_actions payload for a press on `message` (as the loopback Slack holds it)."""
    body = button_body(value, message=message, channel=channel, response_url=response_url, ephemeral=ephemeral,
                       block_id=block_of_value(message["blocks"], value))
    payload = json.loads(dict(parse_qsl(body))["payload"])
    if message.get("thread_ts"):
        payload["message"]["thread_ts"] = message["thread_ts"]
    return urlencode({"payload": json.dumps(payload)})


def shown_anywhere(fake: FakeSlack) -> list[Any]:
    """Everything the bot showed: posts, ephemerals and response_url messages."""
    return [*fake.calls_to("chat.postMessage"), *fake.calls_to("chat.postEphemeral"), *fake.hooks]


# ----- mentions

async def test_a_top_level_mention_asks_with_its_ts_and_is_answered_in_its_thread(slack) -> None:  # type: ignore[no-untyped-def]
    adapter, scripted, fake, client = slack
    ts = await say(client, fake, f"<@UBOT> {QUESTION}")
    [answer] = await _until(lambda: posted_in(fake, CHANNEL))
    [asked] = scripted.requests
    assert (asked.command, asked.text, asked.thread_id, asked.channel_id) == ("ask", QUESTION, ts, CHANNEL)
    assert asked.target == ts, "the mention opens the thread on itself"
    assert answer["thread_ts"] == ts and "Answer: " + QUESTION in all_text(answer["blocks"])


async def test_a_mention_inside_a_thread_asks_in_that_thread(slack) -> None:  # type: ignore[no-untyped-def]
    adapter, scripted, fake, client = slack
    parent, _ = fake.user_posts(CHANNEL, RIVER, "my model will not train")  # its deliveries are not sent here
    ts = await say(client, fake, f"<@UBOT> {QUESTION}", thread_ts=parent)
    [answer] = await _until(lambda: posted_in(fake, CHANNEL))
    [asked] = scripted.requests
    assert (asked.command, asked.thread_id, asked.target) == ("ask", parent, ts) and ts != parent
    assert answer["thread_ts"] == parent


async def test_a_private_reply_to_a_mention_is_shown_where_the_person_is(slack) -> None:  # type: ignore[no-untyped-def]
    adapter, scripted, fake, client = slack
    scripted.script["ask"] = lambda r: [Reply("Only you see this.", ephemeral=True)]
    await say(client, fake, f"<@UBOT> {QUESTION}")
    [top] = await _until(lambda: fake.calls_to("chat.postEphemeral"))
    parent, _ = fake.user_posts(CHANNEL, RIVER, "my model will not train")
    await say(client, fake, f"<@UBOT> {QUESTION}", thread_ts=parent)
    [_, inside] = await _until(lambda: fake.calls_to("chat.postEphemeral")[1:] and fake.calls_to("chat.postEphemeral"))
    # An ephemeral in a thread nobody has started yet is never shown: a top-level mention's stays in the channel.
    assert (top.args["channel"], top.args["user"], top.args.get("thread_ts")) == (CHANNEL, STEVE, None)
    assert inside.args.get("thread_ts") == parent
    assert posted_in(fake, CHANNEL) == []


async def test_a_message_mentioning_the_bot_comes_twice_and_is_answered_once(slack) -> None:  # type: ignore[no-untyped-def]
    adapter, scripted, fake, client = slack
    scripted.script["autoask"] = lambda r: [Reply("auto-answered")]  # were the message event taken, it would show
    ts, events = fake.user_posts(CHANNEL, STEVE, f"hey <@UBOT> {QUESTION}")
    assert sorted(e["event"]["type"] for e in events) == ["app_mention", "message"]
    assert len({e["event_id"] for e in events}) == 2, "two deliveries, each its own event id"
    await deliver(client, events)
    await _until(lambda: posted_in(fake, CHANNEL))
    await say(client, fake, "a marker that is answered", channel="CMARK")
    await _until(lambda: posted_in(fake, "CMARK"))
    await adapter.drain()
    assert [r.command for r in scripted.requests if r.channel_id == CHANNEL] == ["ask"]
    assert len(posted_in(fake, CHANNEL)) == 1


# ----- messages that do not mention the bot

async def test_a_follow_up_in_a_thread_is_a_thread_reply_answered_there(slack) -> None:  # type: ignore[no-untyped-def]
    adapter, scripted, fake, client = slack
    parent = await say(client, fake, f"<@UBOT> {QUESTION}")
    await _until(lambda: posted_in(fake, CHANNEL))
    await say(client, fake, "and what about &lt;3 GPUs &amp; more?", user=RIVER, thread_ts=parent)
    follow_up = (await _until(lambda: posted_in(fake, CHANNEL)[1:]))[0]
    [reply] = scripted.asked("thread_reply")
    assert (reply.thread_id, reply.text, reply.user.platform_id) == (parent, "and what about <3 GPUs & more?", RIVER)
    assert follow_up["thread_ts"] == parent and "Follow-up:" in all_text(follow_up["blocks"])


async def test_a_new_post_is_an_autoask_and_silence_posts_nothing(slack) -> None:  # type: ignore[no-untyped-def]
    adapter, scripted, fake, client = slack
    ts = await say(client, fake, QUESTION)
    await _until(lambda: scripted.asked("autoask"))
    await adapter.drain()
    [auto] = scripted.asked("autoask")
    assert (auto.thread_id, auto.text, auto.is_direct) == (ts, QUESTION, False)
    assert shown_anywhere(fake) == [], "no answer: no message, no thread, nothing private"

    def broken(request: Request) -> list[Reply]:
        raise RuntimeError("the core failed")

    scripted.script["autoask"] = broken  # an error is not shown to someone who did not ask
    await say(client, fake, "another post")
    await _until(lambda: len(scripted.asked("autoask")) == 2)
    await adapter.drain()
    assert shown_anywhere(fake) == []

    scripted.script["autoask"] = lambda r: [Reply("Use `.to('cuda')`.", title="Moving tensors")]
    answered = await say(client, fake, "how do I use the GPU?")
    [answer] = await _until(lambda: posted_in(fake, CHANNEL))
    assert answer["thread_ts"] == answered, "the answer starts the thread on the post"


async def test_bot_messages_edits_and_other_subtypes_are_not_taken(slack) -> None:  # type: ignore[no-untyped-def]
    adapter, scripted, fake, client = slack
    parent, _ = fake.user_posts(CHANNEL, STEVE, QUESTION)
    _, [plain] = fake.user_posts(CHANNEL, STEVE, "a reply", thread_ts=parent)

    def variant(**event: Any) -> dict[str, Any]:
        body = json.loads(json.dumps(plain))
        body["event_id"] = "Ev" + uuid.uuid4().hex[:10].upper()
        body["event"].update(event)
        return {**body, "event": {k: v for k, v in body["event"].items() if v is not None}}

    ignored = [
        variant(bot_id="BOTHER", user="UOTHERBOT"),  # another app's bot
        variant(subtype="message_changed"),
        variant(subtype="thread_broadcast"),
        variant(subtype="channel_join", text="<@U2147483697> has joined the channel"),
        # message_replied arrives without its subtype over the Events API (Slack's documented bug): hidden,
        # no user at the top level, the parent inside.
        variant(hidden=True, user=None, text=None, message={"type": "message", "user": STEVE, "ts": parent,
                                                            "thread_ts": parent, "reply_count": 1}),
        variant(channel_type="mpim"),
        variant(text="   "),
    ]
    await deliver(client, ignored)
    await say(client, fake, "marker", channel="CMARK")
    await _until(lambda: scripted.requests)
    await adapter.drain()
    assert [(r.command, r.channel_id) for r in scripted.requests] == [("autoask", "CMARK")]


def test_channel_messages_are_not_taken_without_the_bots_id() -> None:
    with FakeSlack() as fake:
        _, [event] = fake.user_posts(CHANNEL, STEVE, QUESTION)
    assert translate.from_message(event, accepts_free_text=False, bot_user_id="") is None
    del event["authorizations"]
    assert translate.bot_user_of(event) == ""
    heard = translate.from_message(event, accepts_free_text=False, bot_user_id="UBOT")
    assert heard is not None and (heard.command, heard.thread_id) == ("autoask", event["event"]["ts"])


# ----- the "Ask torchtutor" message shortcut, "Post in thread", and retracting an answer

async def test_the_shortcut_asks_about_the_message_and_answers_only_the_presser(slack) -> None:  # type: ignore[no-untyped-def]
    adapter, scripted, fake, client = slack
    ts, _ = fake.user_posts(CHANNEL, STEVE, f"help!\n```\nx = a &lt; b\n{DEVICE_ERROR}\n```")
    response, took = await _signed(client, shortcut_body(fake, CHANNEL, ts, fake.response_url("shortcut")))
    assert response.status_code == 200 and took < 3.0
    [private] = await _until(lambda: fake.hooks_to("shortcut"))
    [asked] = scripted.requests
    assert (asked.command, asked.target, asked.thread_id) == ("ask_message", ts, "")
    assert asked.text == f"help!\n```\nx = a < b\n{DEVICE_ERROR}\n```" and asked.user.platform_id == RIVER
    assert private.body["response_type"] == "ephemeral" and private.body["replace_original"] is False
    assert "thread_ts" not in private.body
    assert f"ask:post:7:{ts}" in all_text(private.body["blocks"])
    await adapter.drain()
    assert posted_in(fake, CHANNEL) == [] and fake.calls_to("chat.postEphemeral") == []

    parent, _ = fake.user_posts(CHANNEL, STEVE, QUESTION)
    reply, _ = fake.user_posts(CHANNEL, RIVER, DEVICE_ERROR, thread_ts=parent)
    await _signed(client, shortcut_body(fake, CHANNEL, reply, fake.response_url("in-thread")))
    [private] = await _until(lambda: fake.hooks_to("in-thread"))
    assert (scripted.requests[-1].target, scripted.requests[-1].thread_id) == (reply, parent)
    assert private.body["thread_ts"] == parent, "shown in the thread the message is in"


async def test_post_in_thread_posts_the_answer_for_everyone_in_the_messages_thread(slack) -> None:  # type: ignore[no-untyped-def]
    adapter, scripted, fake, client = slack
    scripted.script["ask:post"] = lambda r: [Reply("The device answer, for everyone.",
                                                   in_thread_of=r.action.rsplit(":", 1)[1])]  # type: ignore[union-attr]
    ts, _ = fake.user_posts(CHANNEL, STEVE, DEVICE_ERROR)
    await _signed(client, shortcut_body(fake, CHANNEL, ts, fake.response_url("shortcut")))
    [private] = await _until(lambda: fake.hooks_to("shortcut"))
    value = f"ask:post:7:{ts}"
    press = press_body(value, channel=CHANNEL, message={"ts": "1700000001.000001", "blocks": private.body["blocks"]},
                       response_url=fake.response_url("press"), ephemeral=True)
    response, took = await _signed(client, press)
    assert response.status_code == 200 and took < 3.0
    [public] = await _until(lambda: posted_in(fake, CHANNEL))
    assert scripted.requests[-1].action == value and scripted.requests[-1].user.platform_id == RIVER
    assert public["thread_ts"] == ts and "for everyone" in all_text(public["blocks"])
    await adapter.drain()
    assert fake.hooks_to("press") == [], "public: not through the response_url"


async def test_post_in_thread_where_the_bot_is_no_member_tells_the_presser_and_posts_nothing(slack) -> None:  # type: ignore[no-untyped-def]
    adapter, scripted, fake, client = slack
    scripted.script["ask:post"] = lambda r: [Reply("For everyone.", in_thread_of=r.action.rsplit(":", 1)[1])]  # type: ignore[union-attr]
    fake.outside.add("COUTSIDE")
    ts, deliveries = fake.user_posts("COUTSIDE", STEVE, DEVICE_ERROR)
    assert deliveries == [], "Slack delivers nothing from a channel the bot is not in"
    await _signed(client, shortcut_body(fake, "COUTSIDE", ts, fake.response_url("shortcut")))
    [private] = await _until(lambda: fake.hooks_to("shortcut"))
    assert private.body["response_type"] == "ephemeral"
    value = f"ask:post:7:{ts}"
    await _signed(client, press_body(value, channel="COUTSIDE", ephemeral=True, response_url=fake.response_url("press"),
                                     message={"ts": "1700000001.000002", "blocks": private.body["blocks"]}))
    [told] = await _until(lambda: fake.hooks_to("press"))
    await adapter.drain()
    assert told.body["response_type"] == "ephemeral" and "not a member" in all_text(told.body["blocks"])
    assert NOT_A_MEMBER.split(":")[0] in told.body["text"]
    assert [c.error for c in fake.calls_to("chat.postMessage", ok=False)] == ["not_in_channel"]
    assert fake.message_ts("COUTSIDE") == [ts], "nothing of the bot's in that channel"


async def test_a_retracting_reply_deletes_the_pressed_answer_and_says_so_privately(slack) -> None:  # type: ignore[no-untyped-def]
    adapter, scripted, fake, client = slack
    scripted.script["autoask"] = lambda r: [Reply("An auto-answer.", buttons=(Button("feedback:down:9", "No"),))]
    scripted.script["feedback:down"] = lambda r: [Reply("Removed the answer.", retracts=True)]
    post = await say(client, fake, QUESTION)
    [answer] = await _until(lambda: posted_in(fake, CHANNEL))
    [answer_ts] = [ts for ts in fake.message_ts(CHANNEL) if ts != post]
    message = fake.messages[(CHANNEL, answer_ts)]
    assert message["thread_ts"] == post
    await _signed(client, press_body("feedback:down:9", channel=CHANNEL, message=message,
                                     response_url=fake.response_url("down")))
    [deleted] = await _until(lambda: fake.calls_to("chat.delete"))
    assert (deleted.args["channel"], deleted.args["ts"]) == (CHANNEL, answer_ts)
    assert fake.message_ts(CHANNEL) == [post], "the answer is gone for everyone; the question stays"
    [told] = await _until(lambda: fake.hooks_to("down"))
    assert told.body["response_type"] == "ephemeral" and "Removed the answer." in all_text(told.body["blocks"])
    assert scripted.requests[-1].thread_id == post


# ----- the real runtime over the bundled knowledge: what people in a workspace would see

DATALOADER = "what is a DataLoader?"
WORKERS_FOLLOW_UP = "and how many workers should it have?"
DATALOADER_ENTRY = "what-do-batch-size-shuffle-and-drop-last-do-in-a-dataloader"
WORKERS_ENTRY = "how-does-num-workers-in-a-dataloader-work-and-what-value-should-i-use"
DEVICE_ENTRY = "how-do-i-fix-expected-all-tensors-to-be-on-the-same-device"
SAVE_QUESTION = "How do I save a model's weights and load them back?"
UNCLEAR_POST = "anyone around for lunch later? my code is slow"
TRACEBACK = ("my training loop dies here, any idea?\n```\nTraceback (most recent call last):\n"
             '  File "train.py", line 42, in &lt;module&gt;\n    loss = model(x)\n' + DEVICE_ERROR + "\n```")


class Transcript:
    """What people sent and what the bot showed (where, and to whom), in order; written where
    TORCHTUTOR_TEST_SLACK_TRANSCRIPT names a file."""

    SHOWING = ("chat.postMessage", "chat.postEphemeral", "chat.update", "chat.delete")

    def __init__(self, fake: FakeSlack, title: str) -> None:
        self.fake, self.lines = fake, [f"## {title}", ""]
        self._calls = self._hooks = 0

    def sent(self, who: str, where: str, what: str) -> None:
        self.note()
        self.lines.append(f"- **{who}** {where}: {_quoted(what)}")

    def note(self) -> None:
        """What the bot showed since the last note."""
        calls, hooks = list(self.fake.calls), list(self.fake.hooks)
        shown = [(c.at, _call_line(c)) for c in calls[self._calls:] if c.method in self.SHOWING]
        shown += [(h.at, _hook_line(h)) for h in hooks[self._hooks:]]
        self._calls, self._hooks = len(calls), len(hooks)
        self.lines += [f"  - bot {line}" for _, line in sorted(shown)]

    def write(self) -> None:
        self.note()
        path = os.environ.get("TORCHTUTOR_TEST_SLACK_TRANSCRIPT")
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.write("\n".join(self.lines) + "\n\n")


def _quoted(text: str, limit: int = 400) -> str:
    flat = " ⏎ ".join(line for line in text.splitlines() if line.strip())
    return "“" + (flat if len(flat) <= limit else flat[: limit - 1] + "…") + "”"


def _words(blocks: Any) -> str:
    """A message's header, sections and context lines, and its buttons' ids."""
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks or []
    parts = []
    for block in blocks:
        if block["type"] in ("header", "section") and "text" in block:
            parts.append(block["text"]["text"])
        elif block["type"] == "context":
            parts += [e.get("text", "") for e in block["elements"]]
        elif block["type"] == "actions":
            parts.append("[buttons: " + ", ".join(e.get("value", "") for e in block["elements"]) + "]")
    return _quoted("\n".join(parts), limit=700)


def _call_line(call: Any) -> str:
    args, error = call.args, f" → refused: {call.error}" if call.error else ""
    where = f"in {args.get('channel')}" + (f", thread {args['thread_ts']}" if args.get("thread_ts") else "")
    if call.method == "chat.delete":
        return f"deleted message {args.get('ts')} {where}{error}"
    kind = {"chat.postMessage": "posted for everyone", "chat.postEphemeral": f"showed privately to {args.get('user')}",
            "chat.update": f"updated {args.get('ts')}"}[call.method]
    return f"{kind} {where}{error}: {_words(args.get('blocks'))}"


def _hook_line(hook: Any) -> str:
    body = hook.body
    if body.get("delete_original"):
        return "deleted the pressed message (response_url)"
    who = "for everyone" if body.get("response_type") == "in_channel" else "privately to the person"
    where = f", thread {body['thread_ts']}" if body.get("thread_ts") else ""
    return f"answered {who} (response_url{where}): {_words(body.get('blocks'))}"


def cites(blocks: Any, entry: str) -> bool:
    return f"Source: {entry}" in all_text(blocks)


async def test_a_mention_is_answered_in_its_thread_and_a_follow_up_there_is_read_with_it(real) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    runtime, adapter, fake, client = real
    log = Transcript(fake, "A mention, answered in its thread; a follow-up there read with its question")
    log.sent("Steve", "top level in #elsewhere", f"@torchtutor {WORKERS_FOLLOW_UP}")
    await say(client, fake, f"<@UBOT> {WORKERS_FOLLOW_UP}", channel="CELSE")
    [alone] = await _until(lambda: posted_in(fake, "CELSE"), timeout=60)
    assert "No answer yet" in all_text(alone["blocks"]) and not cites(alone["blocks"], WORKERS_ENTRY)

    log.sent("Steve", "top level in #help", f"@torchtutor {DATALOADER}")
    question = await say(client, fake, f"<@UBOT> {DATALOADER}", channel="CHELP")
    [answer] = await _until(lambda: posted_in(fake, "CHELP"), timeout=60)
    assert answer["thread_ts"] == question and cites(answer["blocks"], DATALOADER_ENTRY)

    log.sent("River", f"in the thread on {question} (no mention)", WORKERS_FOLLOW_UP)
    await say(client, fake, WORKERS_FOLLOW_UP, channel="CHELP", user=RIVER, thread_ts=question)
    follow = (await _until(lambda: posted_in(fake, "CHELP")[1:], timeout=60))[0]
    assert follow["thread_ts"] == question and cites(follow["blocks"], WORKERS_ENTRY)
    assert "A follow-up to “what is a DataLoader?”" in all_text(follow["blocks"])

    log.sent("River", "top level in #help", "thanks all, brb")
    other = await say(client, fake, "thanks all, brb", channel="CHELP", user=RIVER)
    log.sent("Steve", f"in the thread on {other}, which the bot did not start", WORKERS_FOLLOW_UP)
    await say(client, fake, WORKERS_FOLLOW_UP, channel="CHELP", thread_ts=other)
    await say(client, fake, "<@UBOT> /help", channel="CMARK")
    await _until(lambda: posted_in(fake, "CMARK") or fake.calls_to("chat.postEphemeral"), timeout=60)
    await adapter.drain()
    assert len(posted_in(fake, "CHELP")) == 2, "silent in a thread the bot did not start, and on the post"
    log.write()


async def test_ask_torchtutor_answers_a_pasted_error_privately_and_posts_it_on_request(real) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    runtime, adapter, fake, client = real
    log = Transcript(fake, "“Ask torchtutor” on a pasted error, then “Post in thread”")
    log.sent("Steve", "top level in #help", TRACEBACK)
    pasted = await say(client, fake, TRACEBACK, channel="CHELP")
    log.sent("River", f"used the “Ask torchtutor” shortcut on message {pasted}", "")
    await _signed(client, shortcut_body(fake, "CHELP", pasted, fake.response_url("ask")))
    [private] = await _until(lambda: fake.hooks_to("ask"), timeout=60)
    blocks = private.body["blocks"]
    assert private.body["response_type"] == "ephemeral" and cites(blocks, DEVICE_ENTRY)
    assert "RuntimeError: Expected all tensors to be on the same device" in all_text(blocks)
    post = next(v for b in blocks if b["type"] == "actions" for e in b["elements"]
                if (v := e["value"]).startswith("ask:post:"))
    assert post.endswith(f":{pasted}")
    await adapter.drain()
    assert posted_in(fake, "CHELP") == [], "nothing public yet (the post itself is not auto-answered here)"

    log.sent("River", "pressed “Post in thread” on the private answer", "")
    await _signed(client, press_body(post, channel="CHELP", ephemeral=True, response_url=fake.response_url("post"),
                                     message={"ts": "1700000002.000001", "blocks": blocks}))
    [public] = await _until(lambda: posted_in(fake, "CHELP"), timeout=60)
    assert public["thread_ts"] == pasted and cites(public["blocks"], DEVICE_ENTRY)
    log.write()


async def test_an_auto_answer_channel_answers_a_clear_post_and_stays_silent_on_an_unclear_one(real) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from sqlalchemy import select

    from bot.db.models import Question

    runtime, adapter, fake, client = real
    log = Transcript(fake, "An auto-answer channel")
    log.sent("River (not an admin)", "in #auto", "/tt-autoanswer on")
    refused = fake.response_url("river-on")
    fields = slash_fields(f"/{PREFIX}autoanswer", "on", channel="CAUTO", response_url=refused)
    await _signed(client, form_body({**fields, "user_id": RIVER, "user_name": "river"}))
    [no] = await _until(lambda: fake.hooks_to("river-on"), timeout=60)
    assert "only someone who can manage this channel" in all_text(no.body["blocks"])

    log.sent("Steve (workspace admin)", "in #auto", "/tt-autoanswer on")
    await _signed(client, form_body(slash_fields(f"/{PREFIX}autoanswer", "on", channel="CAUTO",
                                                 response_url=fake.response_url("on"))))
    await _until(lambda: posted_in(fake, "CAUTO") or fake.hooks_to("on"), timeout=60)
    await adapter.drain()
    before = len(posted_in(fake, "CAUTO"))

    def asked(text: str) -> list[Any]:
        with runtime.database.session() as session:
            return list(session.scalars(select(Question).where(Question.text == text)))

    log.sent("River", "top level in #auto", SAVE_QUESTION)
    clear = await say(client, fake, SAVE_QUESTION, channel="CAUTO", user=RIVER)
    answer = (await _until(lambda: posted_in(fake, "CAUTO")[before:], timeout=60))[0]
    assert answer["thread_ts"] == clear and "Your 👎 removes this answer" in all_text(answer["blocks"])

    log.sent("River", "top level in #auto", UNCLEAR_POST)
    await say(client, fake, UNCLEAR_POST, channel="CAUTO", user=RIVER)
    [gap] = await _until(lambda: asked(UNCLEAR_POST), timeout=60)
    await adapter.drain()
    assert gap.status == "no_match" and len(posted_in(fake, "CAUTO")) == before + 1, "silent, noted as a gap"
    assert [q.status for q in asked(SAVE_QUESTION)] == ["answered"]

    down = next(v for v in (e["value"] for b in answer["blocks"] if b["type"] == "actions" for e in b["elements"])
                if v.startswith("feedback:down:"))
    answer_ts = next(ts for ts in fake.message_ts("CAUTO") if fake.messages[("CAUTO", ts)].get("thread_ts") == clear)
    log.sent("River (the asker)", f"pressed 👎 on the auto-answer {answer_ts}", "")
    await _signed(client, press_body(down, channel="CAUTO", message=fake.messages[("CAUTO", answer_ts)],
                                     response_url=fake.response_url("down")))
    [told] = await _until(lambda: fake.hooks_to("down"), timeout=60)
    assert [(c.args["channel"], c.args["ts"]) for c in fake.calls_to("chat.delete")] == [("CAUTO", answer_ts)]
    assert "Removed my answer for everyone" in all_text(told.body["blocks"])
    log.write()
