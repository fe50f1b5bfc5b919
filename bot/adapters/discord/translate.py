"""Discord interactions and messages as neutral core Requests."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import discord

from bot.core.conversation import Person, Request

PLATFORM = "discord"
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean(text: str) -> str:
    """Text from a gateway payload without lone surrogates (JSON may carry them; nothing after us can store them)."""
    return _SURROGATE.sub("\ufffd", text)


def show_more_page(custom_id: str, prefix: str) -> tuple[str, int] | None:
    """`{prefix}:{key}:{n}` (a Show more button) as (key, n); None for anything else a client may send."""
    key, _, number = custom_id.removeprefix(prefix + ":").rpartition(":")
    if not custom_id.startswith(prefix + ":") or not key or not re.fullmatch(r"[0-9]{1,4}", number):
        return None
    return key, int(number)


def person(user: discord.User | discord.Member, permissions: discord.Permissions | None = None) -> Person:
    """The person behind a Discord user; admins are those who may administer or manage the guild, and channel
    managers those with Manage Channels (administrators have it implicitly)."""
    if permissions is None and isinstance(user, discord.Member):
        permissions = user.guild_permissions
    is_admin = permissions is not None and (permissions.administrator or permissions.manage_guild)
    manager = permissions is not None and (permissions.administrator or permissions.manage_channels)
    return Person(str(user.id), clean(user.display_name), is_admin, can_manage_channel=manager)


def place(channel: Any) -> tuple[str, str, str]:
    """(channel id, channel name, thread id) of where something happened: inside a thread, the channel is the
    thread's parent (a text channel or a forum) and the thread is named by its own id, which is the id of the
    message it was started on (or of a forum post's starter message)."""
    if isinstance(channel, discord.Thread):
        return str(channel.parent_id), clean(getattr(channel.parent, "name", None) or ""), str(channel.id)
    if channel is None:
        return "", "", ""
    return str(channel.id), clean(getattr(channel, "name", None) or ""), ""


def _interaction_base(interaction: discord.Interaction) -> Request:
    # interaction.permissions is what Discord resolved for this member in this channel, overwrites included.
    permissions = interaction.permissions if interaction.guild_id is not None else None
    channel_id, channel_name, thread_id = place(interaction.channel)
    return Request(
        platform=PLATFORM,
        user=person(interaction.user, permissions),
        channel_id=channel_id or str(interaction.channel_id or ""),
        workspace_id=str(interaction.guild_id or ""),
        channel_name=channel_name,
        is_direct=interaction.guild_id is None,
        handle=interaction,
        thread_id=thread_id,
    )


def command_request(interaction: discord.Interaction, command: str, text: str, target: str = "") -> Request:
    """A slash command: its name and its options as one text, as the console adapter would type it; `target` is
    the message a message command was used on."""
    return replace(_interaction_base(interaction).with_command(command, clean(text).strip()), target=target)


def action_request(interaction: discord.Interaction, action: str) -> Request:
    """A button press: its custom_id is the core's action id."""
    return replace(_interaction_base(interaction), action=clean(action))


def mention_text(message: discord.Message, bot_id: int) -> str:
    """A message's text without the bot's own mention (other mentions are the core's to strip)."""
    return re.sub(rf"<@!?{bot_id}>", " ", clean(message.content)).strip()


# Messages people write (a plain post or a reply); system messages (joins, pins, "started a thread") are not.
_WRITTEN = frozenset({discord.MessageType.default, discord.MessageType.reply})


@dataclass(frozen=True)
class MessageRoute:
    """What a message asks of the core, and where the answer goes."""

    command: str
    text: str
    thread_id: str  # the request's thread: the thread the message is in, or the message's own id if it opens one
    opens_thread: bool  # answer in a thread started on this message (it is a top-level channel post)
    unsolicited: bool  # nobody addressed the bot: say nothing that is not an answer


def route_message(message: discord.Message, bot_id: int) -> MessageRoute | None:
    """Where a message goes (#18): a mention or a DM is a question (or "help", or a typed "/command"); a post in
    a thread that does not mention the bot is a follow-up ("thread_reply"); a new post that does not is an
    auto-answer candidate ("autoask"), a forum post's starter message included. None: not for the bot at all,
    or nothing to read (without the Message Content intent Discord sends other posts without their text)."""
    if message.author.bot or message.type not in _WRITTEN:
        return None
    text = mention_text(message, bot_id)
    in_thread = isinstance(message.channel, discord.Thread)
    thread_id = str(message.channel.id) if in_thread else ""
    if message.guild is None or any(user.id == bot_id for user in message.mentions):
        command, text = addressed(text)
        top_level = message.guild is not None and not in_thread
        return MessageRoute(command, text, str(message.id) if top_level else thread_id, top_level, False)
    if not text:
        return None
    starter = in_thread and message.id == message.channel.id  # a forum post's first message shares its thread's id
    if in_thread and not starter:
        return MessageRoute("thread_reply", text, thread_id, False, True)
    return MessageRoute("autoask", text, thread_id or str(message.id), not in_thread, True)


def addressed(text: str) -> tuple[str, str]:
    """The command of a message written to the bot: "/quiz autograd" as typed in the terminal chat, "help" (or
    nothing), else a question for "ask"."""
    if text.startswith("/"):
        name, _, rest = text[1:].partition(" ")
        return name.lower(), rest.strip()
    if text.lower() in {"", "help"}:
        return "help", ""
    return "ask", text


def message_request(message: discord.Message, route: MessageRoute) -> Request:
    """A message routed to the core; its own id is the request's target (a top-level one names its thread too)."""
    guild_id = message.guild.id if message.guild is not None else None
    channel_id, channel_name, _ = place(message.channel)
    return Request(
        platform=PLATFORM,
        user=person(message.author),
        channel_id=channel_id,
        command=route.command,
        text=clean(route.text),
        workspace_id=str(guild_id or ""),
        channel_name=channel_name,
        is_direct=guild_id is None,
        handle=message,
        thread_id=route.thread_id,
        target=str(message.id),
    )
