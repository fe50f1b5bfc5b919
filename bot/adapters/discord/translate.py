"""Discord interactions and messages as neutral core Requests."""

from __future__ import annotations

import re
from dataclasses import replace

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


def _interaction_base(interaction: discord.Interaction) -> Request:
    # interaction.permissions is what Discord resolved for this member in this channel, overwrites included.
    permissions = interaction.permissions if interaction.guild_id is not None else None
    return Request(
        platform=PLATFORM,
        user=person(interaction.user, permissions),
        channel_id=str(interaction.channel_id or ""),
        workspace_id=str(interaction.guild_id or ""),
        channel_name=clean(getattr(interaction.channel, "name", None) or ""),
        is_direct=interaction.guild_id is None,
        handle=interaction,
    )


def command_request(interaction: discord.Interaction, command: str, text: str) -> Request:
    """A slash command: its name and its options as one text, as the console adapter would type it."""
    return _interaction_base(interaction).with_command(command, clean(text).strip())


def action_request(interaction: discord.Interaction, action: str) -> Request:
    """A button press: its custom_id is the core's action id."""
    return replace(_interaction_base(interaction), action=clean(action))


def mention_text(message: discord.Message, bot_id: int) -> str:
    """A message's text without the bot's own mention (other mentions are the core's to strip)."""
    return re.sub(rf"<@!?{bot_id}>", " ", clean(message.content)).strip()


def message_request(message: discord.Message, command: str, text: str) -> Request:
    """A message that mentions the bot (or a direct message), routed to `command`."""
    guild_id = message.guild.id if message.guild is not None else None
    return Request(
        platform=PLATFORM,
        user=person(message.author),
        channel_id=str(message.channel.id),
        command=command,
        text=clean(text),
        workspace_id=str(guild_id or ""),
        channel_name=clean(getattr(message.channel, "name", None) or ""),
        is_direct=guild_id is None,
        handle=message,
    )
