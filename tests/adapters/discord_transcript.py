"""What happened on the loopback Discord, as a person would tell it: who wrote what, where, and who could see it.

Messages, interactions and threads carry time-ordered snowflake ids, so ordering by id is ordering in time.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.discord_server import EPHEMERAL, FakeDiscord

SHOWN = 300  # characters of a message's text the transcript keeps


def chat_log(fake: FakeDiscord) -> list[str]:
    """One markdown line per message posted (deleted ones included) and per command or button used."""
    entries: dict[int, str] = {int(m["id"]): _message(fake, m) for m in fake.messages.values()}
    for frame in fake.gateway_frames:
        if frame.direction != "out" or frame.replayed:
            continue
        if frame.t == "MESSAGE_CREATE" and int(frame.d["id"]) not in fake.messages:
            entries[int(frame.d["id"])] = _message(fake, frame.d) + " **(deleted later, for everyone)**"
        elif frame.t == "INTERACTION_CREATE":
            entries[int(frame.d["id"])] = _interaction(fake, frame.d)
    return [entries[key] for key in sorted(entries)]


def _where(fake: FakeDiscord, channel_id: str) -> str:
    thread = fake.threads.get(int(channel_id))
    if thread is not None:
        parent = "the forum #pytorch-forum" if thread["parent_id"] == str(fake.forum_id) else "#pytorch-help"
        return f"thread “{thread['name']}” ({channel_id}) in {parent}"
    if channel_id == str(fake.dm_channel_id):
        return "DM with the bot"
    return "#pytorch-help" if channel_id == str(fake.channel_id) else f"channel {channel_id}"


def _message(fake: FakeDiscord, message: dict[str, Any]) -> str:
    by_bot = message["author"]["id"] == str(fake.bot_user_id)
    who = "torchtutor" if by_bot else "Mason"
    seen = " (only Mason sees it)" if message["flags"] & EPHEMERAL else ""
    buttons = [c.get("label", "") for row in message.get("components") or [] for c in row.get("components", [])]
    parts = [message.get("content") or ""]
    for embed in message.get("embeds") or []:
        parts += [f"**{embed['title']}**" if embed.get("title") else "", embed.get("description") or ""]
        footer = (embed.get("footer") or {}).get("text")
        parts.append(f"_{footer}_" if footer else "")
    text = " ".join(" ".join(p for p in parts if p).split())
    text = text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"
    shown = f" [buttons: {', '.join(buttons)}]" if buttons else ""
    return f"- `{message['id']}` **{who}** in {_where(fake, message['channel_id'])}{seen}: {text}{shown}"


def _interaction(fake: FakeDiscord, payload: dict[str, Any]) -> str:
    data, lead = payload["data"], f"- `{payload['id']}` **Mason**"
    where = _where(fake, payload["channel_id"])
    if payload["type"] == 3:
        return f"{lead} presses “{data['custom_id']}” on message {payload['message']['id']} in {where}"
    if data.get("type") == 3:
        return f"{lead} uses “{data['name']}” on message {data['target_id']} in {where}"
    typed = " ".join([f"/{data['name']}", *(str(o.get("value")) for o in data.get("options") or [])])
    return f"{lead} runs `{typed}` in {where}"
