"""Neutral replies as Discord messages: content or an embed, a row of buttons, PNG attachments, within limits."""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from typing import Any

import discord

from bot.core.conversation import Button, Image, Reply
from bot.core.text import normalise_question, plain_text

log = logging.getLogger(__name__)

# Discord's limits (https://discord.com/developers/docs/resources/message#create-message and the embed limits).
CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_COUNT_LIMIT = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000
LABEL_LIMIT = 80
CUSTOM_ID_LIMIT = 100
BUTTON_LIMIT = 25  # 5 rows of 5
FILE_LIMIT = 10
THREAD_NAME_LIMIT = 100
DEFAULT_THREAD_NAME = "torchtutor"
# Room kept for the description when fields crowd an embed; fields that do not fit move into the text.
MIN_DESCRIPTION = 1000

SHOW_MORE_PREFIX = "tt:more"
SHOW_MORE_LABEL = "Show more"

ALLOWED_MENTIONS = discord.AllowedMentions.none()

_STYLES = {
    "primary": discord.ButtonStyle.primary,
    "secondary": discord.ButtonStyle.secondary,
    "success": discord.ButtonStyle.success,
    "danger": discord.ButtonStyle.danger,
}
_COLOURS = {
    "error": discord.Colour.red(),
    "job_result": discord.Colour.green(),
    "no_match": discord.Colour.light_grey(),
}
_DEFAULT_COLOUR = discord.Colour.blurple()
_FENCE = re.compile(r"^\s*(```+|~~~+)(.*)$")
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Rendered:
    """One Discord message for one reply; `more` holds the text pages that did not fit."""

    content: str | None
    embeds: tuple[discord.Embed, ...]
    buttons: tuple[Button, ...]
    images: tuple[Image, ...]
    ephemeral: bool
    more: tuple[str, ...] = ()
    title: str | None = None
    kind: str = "message"

    def view(self) -> discord.ui.View | None:
        """The buttons as a View; stopped, so discord.py keeps no state: presses route by custom_id alone."""
        if not self.buttons:
            return None
        view = discord.ui.View(timeout=None)
        for button in self.buttons:
            view.add_item(discord.ui.Button(label=button.label, custom_id=button.id,
                                            style=_STYLES.get(button.style, discord.ButtonStyle.secondary)))
        view.stop()
        return view

    def files(self) -> list[discord.File]:
        """Fresh File objects for the images (discord.py closes them after each request)."""
        return [discord.File(io.BytesIO(image.data), filename=image.filename) for image in self.images]

    def send_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for a new message (channel send, reply or interaction follow-up)."""
        kwargs: dict[str, Any] = {"allowed_mentions": ALLOWED_MENTIONS}
        if self.content:
            kwargs["content"] = self.content
        if self.embeds:
            kwargs["embeds"] = list(self.embeds)
        view = self.view()
        if view is not None:
            kwargs["view"] = view
        if self.images:
            kwargs["files"] = self.files()
        return kwargs

    def edit_kwargs(self) -> dict[str, Any]:
        """Keyword arguments that make an existing message show this reply and nothing of the old one."""
        return {"content": self.content, "embeds": list(self.embeds), "view": self.view(),
                "attachments": self.files(), "allowed_mentions": ALLOWED_MENTIONS}


def render(reply: Reply, *, more_id: str | None = None) -> Rendered:
    """A reply as a Discord message; `more_id` (``tt:more:<key>``) names the Show more button if text overflows."""
    images = _images(reply.images)
    buttons = _buttons(reply.buttons, reserve=1 if more_id else 0)
    use_embed = bool(reply.title or reply.citation or reply.fields or reply.docs or images) or (
        len(reply.text) > CONTENT_LIMIT)
    if not use_embed:
        text = reply.text or "\u200b"
        return Rendered(text, (), tuple(buttons), images, reply.ephemeral, title=reply.title, kind=reply.kind)

    embed = discord.Embed(colour=_COLOURS.get(reply.kind, _DEFAULT_COLOUR))
    if reply.title:
        embed.title = _clip(reply.title, TITLE_LIMIT)
    footer = f"Source: {reply.citation}" if reply.citation else ""
    if footer:
        embed.set_footer(text=_clip(footer, FOOTER_LIMIT))
    used = len(embed.title or "") + len(footer)
    overflow_fields: list[str] = []
    for name, value in _fields(reply):
        name, value = _clip(name or "\u200b", FIELD_NAME_LIMIT), _clip(value or "\u200b", FIELD_VALUE_LIMIT)
        fits = len(embed.fields) < FIELD_COUNT_LIMIT and used + len(name) + len(value) <= (
            EMBED_TOTAL_LIMIT - MIN_DESCRIPTION)
        if fits:
            embed.add_field(name=name, value=value, inline=len(value) <= 40)
            used += len(name) + len(value)
        else:
            overflow_fields.append(f"**{name}:** {value}")
    text = "\n".join([reply.text, *overflow_fields]) if overflow_fields else reply.text
    budget = min(DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT - used)
    pages = split_markdown(text, budget) if text else [""]
    if len(pages) > 1 and more_id is None:
        log.warning("reply %s is longer than one message and has no Show more key; truncating", reply.id)
        pages = pages[:1]
    embed.description = pages[0] or None
    if len(pages) > 1 and more_id is not None:
        buttons.append(Button(f"{more_id}:1", SHOW_MORE_LABEL, style="primary"))
    shown = next((image for image in images if image.filename.lower().endswith(".png")), None)
    if shown is not None:  # other files (a run's output.txt) are attached, not shown
        embed.set_image(url=f"attachment://{shown.filename}")
    return Rendered(None, (embed,), tuple(buttons), images, reply.ephemeral, more=tuple(pages[1:]),
                    title=reply.title, kind=reply.kind)


def _fields(reply: Reply) -> tuple[tuple[str, str], ...]:
    """The reply's fields, then its documentation links as one `Docs` field of masked links."""
    if not reply.docs:
        return reply.fields
    return (*reply.fields, ("Docs", ", ".join(f"[{label}]({url})" for label, url in reply.docs)))


def render_page(title: str | None, pages: tuple[str, ...], number: int, more_id: str) -> Rendered:
    """Page `number` (1-based among the overflow pages) of a long reply, with Show more if pages remain."""
    index = min(max(number, 1), len(pages)) - 1
    label = f"{title} " if title else ""
    embed = discord.Embed(title=_clip(f"{label}({index + 2}/{len(pages) + 1})", TITLE_LIMIT),
                          description=pages[index], colour=_DEFAULT_COLOUR)
    buttons: tuple[Button, ...] = ()
    if index + 1 < len(pages):
        buttons = (Button(f"{more_id}:{index + 2}", SHOW_MORE_LABEL, style="primary"),)
    return Rendered(None, (embed,), buttons, (), True, title=title)


def split_markdown(text: str, limit: int) -> list[str]:
    """`text` in pages of at most `limit` characters, cut at paragraph, line or word breaks; code fences stay closed."""
    limit = max(limit, 64)
    pages: list[str] = []
    while len(text) > limit:
        cut = _break_at(text, limit - 4)  # room to close an open fence
        head, text = text[:cut].rstrip(), text[cut:].lstrip("\n")
        fence = _open_fence(head)
        if fence is not None:
            marker, opening = fence
            head += "\n" + marker
            text = opening + "\n" + text
        pages.append(head)
    pages.append(text)
    return pages


def _break_at(text: str, limit: int) -> int:
    """Where to cut `text` at or before `limit`: the last paragraph break, line break or space in the second half."""
    for separator in ("\n\n", "\n", " "):
        position = text.rfind(separator, limit // 2, limit)
        if position > 0:
            return position + len(separator)
    return limit


def _open_fence(text: str) -> tuple[str, str] | None:
    """The marker and opening line (```` ``` ```` and ```` ```python ````) of a fence left open in `text`, if any."""
    fence: tuple[str, str] | None = None
    for line in text.splitlines():
        match = _FENCE.match(line)
        if match is None:
            continue
        marker, info = match.group(1), match.group(2).strip()
        if fence is None:
            fence = (marker, marker + info[:20])
        elif marker[0] == fence[0][0] and len(marker) >= len(fence[0]) and not info:
            fence = None
    return fence


def _buttons(buttons: tuple[Button, ...], reserve: int) -> list[Button]:
    """Buttons Discord accepts: unique custom_ids of at most 100 characters, labels of at most 80, 25 at most."""
    kept: list[Button] = []
    seen: set[str] = set()
    for button in buttons:
        if not button.id or len(button.id) > CUSTOM_ID_LIMIT or button.id in seen:
            log.warning("dropping button %r: its action id is empty, too long or repeated", button.id)
            continue
        if len(kept) >= BUTTON_LIMIT - reserve:
            log.warning("dropping button %r: a message holds at most %d buttons", button.id, BUTTON_LIMIT)
            continue
        seen.add(button.id)
        kept.append(Button(button.id, _clip(button.label.strip() or button.id, LABEL_LIMIT), button.style))
    return kept


def _images(images: tuple[Image, ...]) -> tuple[Image, ...]:
    """At most 10 images, with safe and distinct file names (the embed refers to them as attachment://NAME)."""
    if len(images) > FILE_LIMIT:
        log.warning("dropping %d images: a message holds at most %d files", len(images) - FILE_LIMIT, FILE_LIMIT)
    named: list[Image] = []
    taken: set[str] = set()
    for n, image in enumerate(images[:FILE_LIMIT]):
        stem, dot, suffix = image.filename.rpartition(".")
        stem, suffix = (stem, suffix) if dot else (image.filename, "png")
        base = _FILENAME_UNSAFE.sub("_", stem).strip("._") or "image"
        name = f"{base}.{_FILENAME_UNSAFE.sub('', suffix) or 'png'}"
        if name in taken:
            name = f"{base}-{n}.{_FILENAME_UNSAFE.sub('', suffix) or 'png'}"
        taken.add(name)
        named.append(Image(image.data, name))
    return tuple(named)


def thread_name(text: str) -> str:
    """The name of a thread started for a question: the question as plain text on one line, without mentions,
    cut to Discord's 100 characters."""
    name, _ = normalise_question(plain_text(text), len(text) + 1)
    return _clip(name, THREAD_NAME_LIMIT) or DEFAULT_THREAD_NAME


def _clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
