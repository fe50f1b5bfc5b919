"""The Slack app manifest, built from the core's command catalogue, for HTTP or Socket Mode.

`make slack-manifests` writes the two into deploy/slack/; `python -m bot.adapters.slack.manifest --host HOST
--prefix tt-` prints one for your own host and command prefix.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Literal

import yaml

from bot.adapters.slack.app import BOT_SCOPES
from bot.adapters.slack.translate import ASK_SHORTCUT, RUN_SHORTCUT
from bot.core.commands import CATALOGUE, Command, OptionKind

Mode = Literal["http", "socket"]
MODES: tuple[Mode, ...] = ("http", "socket")
# message.channels and message.groups: follow-ups in the bot's threads and auto-answer channels (only channels
# the bot is a member of; a mention comes as app_mention too and is answered once).
BOT_EVENTS = ("app_mention", "message.im", "message.channels", "message.groups", "app_home_opened")
EXAMPLE_HOST = "bot.example.com"
EVENTS_PATH = "/slack/events"
REDIRECT_PATH = "/slack/oauth_redirect"
HEADER = ("# Generated from the command catalogue (bot/core/commands.py) by `make slack-manifests`; do not edit.\n"
          "# Paste it at https://api.slack.com/apps (Create New App, From a manifest).\n")


def file_name(mode: Mode) -> str:
    return f"manifest.{mode}.yaml"


def manifest(mode: Mode, host: str = EXAMPLE_HOST, prefix: str = "") -> dict[str, Any]:
    """The manifest as Slack reads it: over HTTP every URL points at `host`; Socket Mode needs none."""
    events_url = f"https://{host}{EVENTS_PATH}" if mode == "http" else None
    return {
        "display_information": {"name": "torchtutor", "description": "Learn PyTorch where your team talks"},
        "features": {
            "app_home": {"home_tab_enabled": True, "messages_tab_enabled": True,
                         "messages_tab_read_only_enabled": False},
            "bot_user": {"display_name": "torchtutor", "always_online": True},
            "shortcuts": [{"name": "Run with torchtutor", "type": "message", "callback_id": RUN_SHORTCUT,
                           "description": "Run this message's code block in the sandbox"},
                          {"name": "Ask torchtutor", "type": "message", "callback_id": ASK_SHORTCUT,
                           "description": "Answer this message's question or error, just for you"}],
            "slash_commands": [_slash_command(command, prefix, events_url) for command in CATALOGUE],
        },
        "oauth_config": {
            **({"redirect_urls": [f"https://{host}{REDIRECT_PATH}"]} if mode == "http" else {}),
            "scopes": {"bot": list(BOT_SCOPES)},
        },
        "settings": {
            "event_subscriptions": {**_url("request_url", events_url), "bot_events": list(BOT_EVENTS)},
            "interactivity": {"is_enabled": True, **_url("request_url", events_url)},
            "org_deploy_enabled": False,
            "socket_mode_enabled": mode == "socket",
            "token_rotation_enabled": False,
        },
    }


def _slash_command(command: Command, prefix: str, url: str | None) -> dict[str, Any]:
    hint = command.usage.partition(" ")[2]
    return {"command": f"/{prefix}{command.name}", **_url("url", url), "description": command.summary,
            **({"usage_hint": hint} if hint else {}),
            # Slack writes a typed @person as <@U123|name> only when escaping is on.
            "should_escape": any(option.kind is OptionKind.PERSON for option in command.options)}


def _url(key: str, url: str | None) -> dict[str, str]:
    return {key: url} if url else {}


def manifest_yaml(mode: Mode, host: str = EXAMPLE_HOST, prefix: str = "") -> str:
    """The manifest as the YAML text of the file in deploy/slack/."""
    body: str = yaml.safe_dump(manifest(mode, host, prefix), sort_keys=False, width=120, allow_unicode=True)
    return HEADER + body


def write(folder: Path, host: str = EXAMPLE_HOST, prefix: str = "") -> list[Path]:
    """Write both manifests into `folder`; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / file_name(mode) for mode in MODES]
    for mode, path in zip(MODES, paths, strict=True):
        path.write_text(manifest_yaml(mode, host, prefix), encoding="utf-8")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.adapters.slack.manifest", description=__doc__)
    parser.add_argument("--mode", choices=MODES, default="http", help="HTTP (default) or Socket Mode")
    parser.add_argument("--host", default=EXAMPLE_HOST, help="public host of `torchtutor serve` (HTTP mode)")
    parser.add_argument("--prefix", default="", help="command prefix, as TORCHTUTOR_SLACK_COMMAND_PREFIX")
    parser.add_argument("--write", metavar="FOLDER", type=Path,
                        help="write both manifests (HTTP and Socket Mode) into FOLDER instead")
    args = parser.parse_args(argv)
    if args.write is not None:
        for path in write(args.write, args.host, args.prefix):
            print(f"wrote {path}")
    else:
        sys.stdout.write(manifest_yaml(args.mode, args.host, args.prefix))
    return 0


if __name__ == "__main__":
    sys.exit(main())
