"""deploy/discord/invite.md against the named permissions in bot/adapters/discord/invite.py and the app itself."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import discord

from bot.adapters.discord.client import intents
from bot.adapters.discord.invite import PERMISSIONS, SCOPES, invite_markdown

REPO = Path(__file__).resolve().parents[2]
INVITE = REPO / "deploy" / "discord" / "invite.md"


def shown_url(text: str) -> dict[str, list[str]]:
    [url] = re.findall(r"https://discord\.com/oauth2/authorize\?\S+", text)
    return parse_qs(urlsplit(url).query)


def test_the_invite_file_is_the_one_generated_from_the_named_list() -> None:
    assert INVITE.read_text(encoding="utf-8") == invite_markdown(), \
        "run `python -m bot.adapters.discord.invite > deploy/discord/invite.md`"


def test_its_permission_integer_is_the_named_permissions_bits() -> None:
    flags = discord.Permissions.VALID_FLAGS
    assert all(name in flags for name in PERMISSIONS), "every name is one of discord.py's permission flags"
    expected = sum(flags[name] for name in PERMISSIONS)
    query = shown_url(INVITE.read_text(encoding="utf-8"))
    assert query["permissions"] == [str(expected)]
    assert query["scope"] == [" ".join(SCOPES)] and query["client_id"] == ["APPLICATION_ID"]
    granted = discord.Permissions(int(query["permissions"][0]))
    assert all(getattr(granted, name) for name in PERMISSIONS)
    assert not (granted.administrator or granted.manage_channels or granted.mention_everyone), "nothing it won't use"


def test_the_app_needs_what_the_invite_asks_for() -> None:
    assert {"bot", "applications.commands"} <= set(SCOPES), "a bot user with slash and message commands"
    assert not intents().message_content and not intents().members, "no privileged intent to switch on"
    for needed in ("view_channel", "send_messages", "embed_links", "attach_files", "use_application_commands"):
        assert needed in PERMISSIONS


def test_the_readme_shows_the_same_invite() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "deploy/discord/invite.md" in readme
    assert shown_url(readme) == shown_url(INVITE.read_text(encoding="utf-8"))
