"""The App Home tab: the person's progress and what is due, from the core, and buttons that run commands.

The content comes from the core: a Tutor command `home` if one is registered (progress and due items in one
reply), else `stats`, else the help. Quick actions are buttons whose value runs a command in the person's
direct-message channel with the app (kept in the view's private_metadata).
"""

from __future__ import annotations

import json
from typing import Any

from bot.adapters.slack.render import Block, actions_blocks, mrkdwn, render_blocks
from bot.adapters.slack.translate import COMMAND_ACTION, rename_commands
from bot.core.conversation import Button, Request
from bot.core.tutor import Tutor

HOME_BLOCK_LIMIT = 100
CONTENT_COMMANDS = ("home", "stats", "help")
QUICK_ACTIONS = (
    ("quiz", "Take a quiz", "primary"),
    ("review", "Review what's due", "secondary"),
    ("stats", "My stats", "secondary"),
    ("help", "Help", "secondary"),
)


async def home_view(tutor: Tutor, request: Request, prefix: str = "") -> dict[str, Any]:
    """The `views.publish` view for one person."""
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "torchtutor", "emoji": True}},
        {"type": "section", "text": mrkdwn(
            "I teach PyTorch. Send me a question in this app's *Messages* tab, mention me in a channel, "
            f"or use `/{prefix}ask`.")},
    ]
    available = set(tutor.command_names)
    for n, reply in enumerate(await _content(tutor, request, available)):
        blocks += render_blocks(rename_commands(reply, prefix), message_id=f"home{n}")
    quick = [Button(f"{COMMAND_ACTION}{name}", label, style) for name, label, style in QUICK_ACTIONS
             if name in available]
    if quick:
        blocks.append({"type": "divider"})
        blocks += actions_blocks(quick, "tt:home:q")
    return {"type": "home", "private_metadata": json.dumps({"channel": request.channel_id}),
            "blocks": blocks[:HOME_BLOCK_LIMIT]}


async def _content(tutor: Tutor, request: Request, available: set[str]) -> list[Any]:
    for command in CONTENT_COMMANDS:
        if command not in available:
            continue
        replies = [r for r in await tutor.collect(request.with_command(command, "")) if r.kind != "error"]
        if replies:
            return replies
    return []
