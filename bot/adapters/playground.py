"""The web playground adapter: a browser's line or button press in, each neutral reply (or edit) out as HTML data.

Like the console adapter it translates, calls `tutor.handle`, and renders; the HTTP and streaming parts live in
bot/web/playground.py, which imports this module (never the other way round). Buttons travel as signed tokens
bound to the visitor, so a page can only press buttons the bot showed that visitor (the console's "no button on
screen" rule, without keeping state on the server).
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from bot.adapters.console import parse_line
from bot.adapters.html import inline_html, to_html
from bot.core.conversation import Image, Person, Reply, Request
from bot.core.tutor import Tutor

PLATFORM = "web"


@dataclass(frozen=True)
class Visitor:
    """Who is typing: a dashboard account or an anonymous browser session."""

    id: str
    name: str
    is_admin: bool = False

    def person(self) -> Person:
        return Person(platform_id=self.id, name=self.name, is_admin=self.is_admin, can_manage_channel=self.is_admin)

    @property
    def channel_id(self) -> str:
        """Each visitor has a channel of their own, so one's study schedule or quiz round is not another's."""
        return f"playground-{self.id}"


class WebChat:
    """Turns playground input into Requests and Replies into JSON-ready messages with safe HTML."""

    def __init__(self, tutor: Tutor, secret: str) -> None:
        self.tutor = tutor
        self._buttons = URLSafeSerializer(secret, salt="torchtutor.playground.button")

    def request_for(self, visitor: Visitor, *, text: str | None = None, button: str | None = None,
                    origin: str = "") -> Request | None:
        """The Request for a typed line or a pressed button; None for a blank line or a button not shown to them.

        `origin` is the visitor's network address: anonymous visitors' demo jobs are limited per address.
        A typed `!click TOKEN` is a button press like any other: it must carry a button token signed for this
        visitor, never a bare action id (which would let anyone press anyone's buttons).
        """
        base = Request(platform=PLATFORM, user=visitor.person(), channel_id=visitor.channel_id,
                       channel_name="playground", is_direct=True, origin=origin)
        typed = parse_line(text or "", base) if button is None else None
        if typed is not None and typed.action is not None:
            button = typed.action
        if button is not None:
            action = self.button_action(button, visitor)
            return replace(base, action=action) if action else None
        return typed

    async def replies(self, request: Request, visitor: Visitor) -> AsyncIterator[dict[str, Any]]:
        """Every reply to the request, rendered, as the core yields it (edits included)."""
        async for reply in self.tutor.handle(request):
            yield self.render(reply, visitor)

    def render(self, reply: Reply, visitor: Visitor) -> dict[str, Any]:
        """One message for the page: `message_id` and `edit` as in the console's JSON, the body as safe HTML."""
        fields = [{"name": name, "value": value} for name, value in reply.fields]
        return {
            "message_id": reply.edits or reply.id,
            "edit": reply.edits is not None,
            "kind": reply.kind,
            "title": reply.title,
            "title_html": str(inline_html(reply.title)) if reply.title else "",
            "html": str(to_html(reply.text)),
            "fields": fields,
            "progress": reply.progress.fraction if reply.progress is not None else None,
            "progress_label": reply.progress.label if reply.progress is not None else "",
            "citation": reply.citation,
            "docs": [{"label": label, "url": url} for label, url in reply.docs],
            "buttons": [{"token": self._buttons.dumps([b.id, visitor.id]), "label": b.label, "style": b.style}
                        for b in reply.buttons],
            "images": [_data_url("image/png", i.data) for i in reply.images if _is_png(i)],
            "files": [{"name": i.filename, "size": len(i.data), "href": _data_url("text/plain;charset=utf-8", i.data)}
                      for i in reply.images if not _is_png(i)],  # a run's whole output.txt, to download
            "ephemeral": reply.ephemeral,
        }

    def button_action(self, token: str, visitor: Visitor) -> str | None:
        """The action id inside a button token, if the token was signed here for this visitor."""
        try:
            action, owner = self._buttons.loads(token)
        except (BadSignature, ValueError, TypeError):
            return None
        return str(action) if owner == visitor.id else None


def _is_png(image: Image) -> bool:
    return image.filename.lower().endswith(".png")


def _data_url(media_type: str, data: bytes) -> str:
    """Attachments ride in the visitor's own reply stream, as images do: no URL another visitor could fetch."""
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"
