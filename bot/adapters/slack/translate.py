"""Slack payloads (slash commands, button presses, events) as neutral Requests, and back the other way."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.adapters.slack.render import escape, message_block_id, reply_id_of_block
from bot.core.commands import NAMES
from bot.core.conversation import Person, Reply, Request

PLATFORM = "slack"
CHAT_COMMANDS = NAMES  # the core's catalogue
RUN_SHORTCUT = "run_snippet"  # the callback id of the "Run with torchtutor" message shortcut
ASK_SHORTCUT = "ask_message"  # the callback id of the "Ask torchtutor" message shortcut
RUN_FORM = "run_code"  # the callback id of the modal `/run` opens when typed without code
RUN_FORM_BLOCK = RUN_FORM_INPUT = "code"
RUN_FORM_LIMIT = 3000  # Slack's most for a plain_text_input
COMMAND_ACTION = "slack-command:"  # buttons of our own (App Home quick actions) that run a command
PREFACE_LIMIT = 300

_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_LEADING_MENTIONS = re.compile(r"^(\s*<@[UW][A-Z0-9]+(?:\|[^>]*)?>[\s,:]*)+")
# Channels whose messages the bot hears (message.channels, message.groups) without being mentioned.
HEARD_CHANNEL_TYPES = ("channel", "group")


# The shape of the fields that Bolt and this module read, wherever they appear in a payload (Slack's own payloads
# always have it); a signed payload without it is answered 400 instead of failing inside a listener.
_SHAPES: dict[str, tuple[type, ...]] = {
    **dict.fromkeys(("team", "user", "channel", "enterprise"), (dict, str, type(None))),
    **dict.fromkeys(("container", "message", "previous_message", "view", "event", "item", "assistant_thread"),
                    (dict,)),
    **dict.fromkeys(("actions", "authorizations", "blocks", "elements"), (list,)),
    **dict.fromkeys(("type", "action_id", "block_id", "value", "ts", "thread_ts", "message_ts", "user_id", "team_id",
                     "channel_id", "enterprise_id", "id", "private_metadata", "response_url", "tab", "subtype",
                     "bot_id", "channel_type", "event_id", "command", "user_team", "channel_name", "user_name"),
                    (str, type(None))),
}
_LISTS_OF_OBJECTS = ("actions", "authorizations", "blocks", "elements")
_SURROGATE = re.compile("[\ud800-\udfff]")


def payload_problem(payload: Any) -> str | None:
    """Why a parsed Slack payload does not have Slack's shape (one line), or None when it does."""
    if not isinstance(payload, dict):
        return "the payload is not a JSON object"
    stack: list[Any] = [payload]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            if any(isinstance(text, str) and _SURROGATE.search(text) for text in (key, value)):
                return "a string has a lone surrogate (\\ud800-\\udfff)"
            expected = _SHAPES.get(key) if isinstance(key, str) else None
            if expected is not None and not isinstance(value, expected):
                return f"{key!r} has the wrong type ({type(value).__name__})"
            if key in _LISTS_OF_OBJECTS and not all(isinstance(item, dict) for item in value):
                return f"{key!r} must hold objects"
            if isinstance(value, dict | list):
                stack.append(value)
    if payload.get("type") == "block_actions" and not payload.get("actions"):
        return "a block_actions payload without actions"
    return None


def _obj(value: Any) -> Mapping[str, Any]:
    """A nested object of a payload, or an empty one where the payload has something else."""
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class SlackHandle:
    """Where and how to answer one Slack request; travels in `Request.handle`."""

    team_id: str
    channel_id: str
    user_id: str
    source: str  # "command", "action", "mention", "dm", "home", "shortcut" or "overheard" (not addressed to us)
    thread_ts: str | None = None
    response_url: str | None = None
    enterprise_id: str | None = None
    message_ts: str | None = None  # the message whose button was pressed
    message_reply_id: str | None = None
    message_is_ephemeral: bool = False
    message_preface: str | None = None
    preface: str | None = None
    # Every reply is shown to the person alone, in the thread of the message asked about ("Ask torchtutor").
    private: bool = False
    ts: str | None = None  # the message the request came in: a mention, a direct or a channel message

    @property
    def is_direct(self) -> bool:
        return self.channel_id.startswith("D") or self.source in ("dm", "home")

    @property
    def open_thread(self) -> str | None:
        """The thread the person is in already, if any (an ephemeral in a thread not yet started is never shown,
        and a message in a thread cannot start one of its own)."""
        own = self.ts or self.message_ts
        return self.thread_ts if self.thread_ts and self.thread_ts != own else None

    @property
    def unasked(self) -> bool:
        """Nobody addressed the bot: a refusal or an apology would be noise in someone else's conversation."""
        return self.source == "overheard"


def command_name(slash_command: str, prefix: str) -> str:
    """`/tt-ask` with prefix `tt-` -> `ask`."""
    return slash_command.lstrip("/").removeprefix(prefix).lower()


def slash_commands(prefix: str) -> list[str]:
    """The slash commands the app registers, with the configured prefix."""
    return [f"/{prefix}{name}" for name in CHAT_COMMANDS]


def mention_text(text: str) -> str:
    """User mentions as `<@U123>` (Slack adds `|name` when escaping is on)."""
    return _USER_MENTION.sub(r"<@\1>", text)


def _base(*, team_id: str, user_id: str, name: str, channel_id: str, channel_name: str, handle: SlackHandle,
          command: str = "", text: str = "", action: str | None = None, thread_id: str = "",
          target: str = "") -> Request:
    return Request(platform=PLATFORM, user=Person(platform_id=user_id, name=name), channel_id=channel_id,
                   command=command, text=text, workspace_id=team_id, channel_name=channel_name,
                   is_direct=handle.is_direct, action=action, handle=handle, thread_id=thread_id, target=target)


def from_command(body: Mapping[str, Any], prefix: str) -> Request:
    """A slash command (form fields of Slack's POST, or the same fields over Socket Mode)."""
    slash, text = str(body.get("command", "")), mention_text(str(body.get("text", "")).strip())
    user_id, name = str(body.get("user_id", "")), str(body.get("user_name", ""))
    command = command_name(slash, prefix)
    echoed = f"{slash} {text}".strip()
    if command == "run":  # code: its characters back as typed, and not echoed (the result shows what it did)
        text, echoed = unescape(text), slash
    if len(echoed) > PREFACE_LIMIT:
        echoed = echoed[: PREFACE_LIMIT - 1] + "…"
    handle = SlackHandle(
        team_id=str(body.get("team_id", "")), channel_id=str(body.get("channel_id", "")), user_id=user_id,
        source="command", response_url=body.get("response_url"), enterprise_id=body.get("enterprise_id"),
        preface=f"*{escape(name or user_id)}* used {escape(echoed)}",
    )
    return _base(team_id=handle.team_id, user_id=user_id, name=name, channel_id=handle.channel_id,
                 channel_name=str(body.get("channel_name", "")), handle=handle, command=command, text=text)


def from_run_shortcut(body: Mapping[str, Any]) -> Request:
    """The "Run with torchtutor" message shortcut (`message_action`): `/run` on the message's text, answered in
    the message's channel."""
    return _from_shortcut(body, "run", lambda name: f"*{escape(name)}* ran a message's code")


def from_ask_shortcut(body: Mapping[str, Any]) -> Request:
    """The "Ask torchtutor" message shortcut (`message_action`): `ask_message` about the message (its ts is the
    target, its thread the request's), answered to the person alone, in that thread if it is in one."""
    return _from_shortcut(body, "ask_message", None)


def _from_shortcut(body: Mapping[str, Any], command: str, preface: Callable[[str], str] | None) -> Request:
    """A message shortcut as `command` on the message's text (its characters back as typed); with no preface
    to echo, every reply is private."""
    user, message, channel = _obj(body.get("user")), _obj(body.get("message")), _obj(body.get("channel"))
    team_id = str(_obj(body.get("team")).get("id") or user.get("team_id") or "")
    name, user_id = str(user.get("username") or user.get("name") or ""), str(user.get("id", ""))
    thread_ts = message.get("thread_ts") if isinstance(message.get("thread_ts"), str) else None
    handle = SlackHandle(team_id=team_id, channel_id=str(channel.get("id", "")), user_id=user_id,
                         source="shortcut", thread_ts=thread_ts, response_url=body.get("response_url"),
                         enterprise_id=_obj(body.get("enterprise")).get("id"),
                         preface=preface(name or user_id) if preface else None, private=preface is None)
    return _base(team_id=team_id, user_id=user_id, name=name, channel_id=handle.channel_id,
                 channel_name=str(channel.get("name", "")), handle=handle, command=command,
                 text=unescape(str(message.get("text", ""))), thread_id=thread_ts or "",
                 target=str(message.get("ts") or ""))


def wants_run_form(body: Mapping[str, Any], prefix: str) -> bool:
    """`/run` typed with nothing after it (and a trigger to open a modal with): it asks for the code in a form."""
    return (command_name(str(body.get("command", "")), prefix) == "run" and not str(body.get("text", "")).strip()
            and bool(body.get("trigger_id")))


def run_form(body: Mapping[str, Any]) -> dict[str, Any]:
    """The modal for `/run` without code: one multi-line code field. Slack says nothing of the channel when the
    form is submitted, so the command's channel, name and response_url travel in `private_metadata`."""
    where = {key: body.get(key) for key in ("command", "channel_id", "channel_name", "response_url", "enterprise_id")}
    return {
        "type": "modal", "callback_id": RUN_FORM, "private_metadata": json.dumps(where),
        "title": {"type": "plain_text", "text": "Run PyTorch code"},
        "submit": {"type": "plain_text", "text": "Run"}, "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [{"type": "input", "block_id": RUN_FORM_BLOCK, "label": {"type": "plain_text", "text": "Code"},
                    "element": {"type": "plain_text_input", "action_id": RUN_FORM_INPUT, "multiline": True,
                                "max_length": RUN_FORM_LIMIT, "focus_on_load": True,
                                "placeholder": {"type": "plain_text", "text": "import torch"}}}],
    }


def run_form_code(body: Mapping[str, Any]) -> str:
    """The code typed into the `/run` form (a `view_submission`), exactly as typed."""
    values = _obj(_obj(_obj(body.get("view")).get("state")).get("values"))
    value = _obj(_obj(values.get(RUN_FORM_BLOCK)).get(RUN_FORM_INPUT)).get("value")
    return value if isinstance(value, str) else ""


def from_run_form(body: Mapping[str, Any], prefix: str) -> Request:
    """The submitted `/run` form: `/run CODE`, answered in the channel the command was typed in."""
    try:
        where = _obj(json.loads(str(_obj(body.get("view")).get("private_metadata") or "{}")))
    except ValueError:
        where = {}
    user = _obj(body.get("user"))
    name, user_id = str(user.get("username") or user.get("name") or ""), str(user.get("id", ""))
    slash = str(where.get("command") or f"/{prefix}run")
    response_url = where.get("response_url")
    handle = SlackHandle(team_id=str(_obj(body.get("team")).get("id") or user.get("team_id") or ""),
                         channel_id=str(where.get("channel_id") or ""), user_id=user_id, source="command",
                         response_url=response_url if isinstance(response_url, str) else None,
                         enterprise_id=_obj(body.get("enterprise")).get("id"),
                         preface=f"*{escape(name or user_id)}* used {escape(slash)}")
    return _base(team_id=handle.team_id, user_id=user_id, name=name, channel_id=handle.channel_id,
                 channel_name=str(where.get("channel_name") or ""), handle=handle, command="run",
                 text=run_form_code(body))


def unescape(text: str) -> str:
    """Slack's text with the three characters it always escapes put back (code needs its `<` and `&`)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def from_action(body: Mapping[str, Any]) -> Request:
    """A button press or a select's choice (`block_actions`): its value is the core's action id, or one of our
    command buttons."""
    actions = body.get("actions")
    action = _obj(actions[0] if isinstance(actions, list) and actions else None)
    value = str(action.get("value") or _obj(action.get("selected_option")).get("value") or "")
    user = _obj(body.get("user"))
    team_id = str(_obj(body.get("team")).get("id") or user.get("team_id") or "")
    container = _obj(body.get("container"))
    message = _obj(body.get("message"))
    view = _obj(body.get("view"))
    channel_id = str(_obj(body.get("channel")).get("id") or container.get("channel_id") or "")
    source = "action"
    if not channel_id and view:
        channel_id, source = _view_channel(view), "home"
    message_ts = container.get("message_ts") or message.get("ts")
    thread = message.get("thread_ts") or container.get("thread_ts")
    reply_id = reply_id_of_block(action.get("block_id"))
    handle = SlackHandle(
        team_id=team_id, channel_id=channel_id, user_id=str(user.get("id", "")), source=source,
        thread_ts=thread or message_ts,
        response_url=body.get("response_url"), enterprise_id=_obj(body.get("enterprise")).get("id"),
        message_ts=message_ts, message_reply_id=reply_id,
        message_is_ephemeral=bool(container.get("is_ephemeral")),
        message_preface=_preface_of(message, reply_id),
    )
    name = str(user.get("username") or user.get("name") or "")
    channel_name = str(_obj(body.get("channel")).get("name", ""))
    command, pressed = (value[len(COMMAND_ACTION):], None) if value.startswith(COMMAND_ACTION) else ("", value)
    return _base(team_id=team_id, user_id=handle.user_id, name=name, channel_id=channel_id,
                 channel_name=channel_name, handle=handle, command=command, action=pressed,
                 thread_id=str(thread or ""))


def _view_channel(view: Mapping[str, Any]) -> str:
    try:
        return str(json.loads(view.get("private_metadata") or "{}").get("channel", ""))
    except (ValueError, AttributeError, RecursionError):
        return ""


def _preface_of(message: Mapping[str, Any], reply_id: str | None) -> str | None:
    """The echo line of the pressed message, so an update of that message keeps it."""
    if not reply_id:
        return None
    wanted = message_block_id(reply_id, "p")
    blocks = message.get("blocks")
    for block in blocks if isinstance(blocks, list) else []:
        block = _obj(block)
        if block.get("block_id") == wanted:
            elements = block.get("elements")
            text = _obj(elements[0] if isinstance(elements, list) and elements else None).get("text")
            return text if isinstance(text, str) else None
    return None


def from_message(body: Mapping[str, Any], *, accepts_free_text: bool, bot_user_id: str = "") -> Request | None:
    """An `app_mention`, a direct message, or a person's message in a channel the bot is in; None for what to
    ignore (edits, joins and other subtypes, bots, and a channel message that mentions the bot: its
    `app_mention` is answered)."""
    event = _obj(body.get("event"))
    user_id, channel_id, kind = str(event.get("user", "")), str(event.get("channel", "")), event.get("type")
    if not user_id or not channel_id or kind not in ("app_mention", "message"):
        return None
    if kind == "message" and (event.get("subtype") or event.get("bot_id") or event.get("hidden")):
        return None
    ts, raw = str(event.get("ts") or ""), str(event.get("text", ""))
    thread_ts = str(event.get("thread_ts") or "")
    in_thread = bool(thread_ts) and thread_ts != ts
    text = unescape(mention_text(raw)).strip()
    if kind == "app_mention":
        source, thread, command = "mention", thread_ts or ts, None
    elif event.get("channel_type") == "im":
        source, thread, command = "dm", thread_ts, None
    elif event.get("channel_type") in HEARD_CHANNEL_TYPES and bot_user_id and f"<@{bot_user_id}" not in raw:
        source, thread = "overheard", thread_ts if in_thread else ts
        command = "thread_reply" if in_thread else "autoask"
    else:  # a mention is answered through its app_mention; without our id, one cannot be told apart
        return None
    if command is None:
        command, text = _command_in_text(_LEADING_MENTIONS.sub("", text).strip())
    if command is None:
        # In a DM, a reply in a thread answers the bot's pending prompt; anything else is a question.
        command = "" if (kind == "message" and in_thread and accepts_free_text) else "ask"
    if source == "overheard" and not text:
        return None
    team_id = str(body.get("team_id") or event.get("team") or "")
    handle = SlackHandle(team_id=team_id, channel_id=channel_id, user_id=user_id, source=source,
                         thread_ts=thread or None, ts=ts or None)
    # The message itself is the target: a mention whose thread is its own opens that thread.
    return _base(team_id=team_id, user_id=user_id, name="", channel_id=channel_id, channel_name="",
                 handle=handle, command=command, text=text, thread_id=thread, target=ts)


def bot_user_of(body: Mapping[str, Any]) -> str:
    """The bot user an event was delivered for, from its `authorizations` (Bolt's context has it too)."""
    authorizations = body.get("authorizations")
    for authorization in authorizations if isinstance(authorizations, list) else []:
        if _obj(authorization).get("is_bot") and isinstance(authorization.get("user_id"), str):
            return str(authorization["user_id"])
    return ""


def _command_in_text(text: str) -> tuple[str | None, str]:
    """`/quiz tensors` typed in a message -> ("quiz", "tensors"); plain text -> (None, text)."""
    match = re.match(r"^/([a-z][a-z0-9_-]*)\s*(.*)$", text, re.DOTALL | re.IGNORECASE)
    if not match or match.group(1).lower() not in CHAT_COMMANDS:
        return None, text
    return match.group(1).lower(), match.group(2).strip()


def home_request(event: Mapping[str, Any], team_id: str) -> Request:
    """The request behind an App Home tab: the person, in their direct-message channel with the app."""
    handle = SlackHandle(team_id=team_id, channel_id=str(event.get("channel", "")),
                         user_id=str(event.get("user", "")), source="home")
    return _base(team_id=team_id, user_id=handle.user_id, name="", channel_id=handle.channel_id,
                 channel_name="", handle=handle, command="home")


def with_person(request: Request, person: Person) -> Request:
    """The request with the person as Slack describes them (name, admin)."""
    return replace(request, user=person)


def rename_commands(reply: Reply, prefix: str) -> Reply:
    """Command names in a reply's text as this workspace types them (`/ask` -> `/tt-ask`)."""
    if not prefix:
        return reply
    pattern = re.compile(r"(?<![\w/-])/(" + "|".join(CHAT_COMMANDS) + r")\b")
    text = pattern.sub(lambda m: f"/{prefix}{m.group(1)}", reply.text)
    return reply if text == reply.text else replace(reply, text=text)
