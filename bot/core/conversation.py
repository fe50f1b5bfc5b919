"""The platform-neutral conversation: what adapters hand the core, and what the core hands back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from bot.core.text import plain_text


@dataclass(frozen=True)
class Person:
    """Someone talking to the bot, as their platform identifies them."""

    platform_id: str
    name: str = ""
    is_admin: bool = False
    can_manage_channel: bool = False  # Discord Manage Channels; Slack admin/owner or allow-list


@dataclass(frozen=True)
class Request:
    """A command, a button press or a free-text answer, from any adapter."""

    platform: str
    user: Person
    channel_id: str
    command: str = ""
    text: str = ""
    workspace_id: str = ""
    channel_name: str = ""
    is_direct: bool = False
    action: str | None = None
    handle: Any = field(default=None, compare=False, repr=False)
    # The network address of an anonymous visitor (the web playground); empty where the platform vouches for
    # the person. Limits that would count a fresh cookie as a new person count this instead.
    origin: str = ""
    # The thread this request belongs to, named by the id of the message that starts it (Discord gives a thread
    # started on a message that message's id; Slack's thread_ts is its parent's ts); empty outside threads. A
    # top-level mention, answered in a new thread, carries its own message's id.
    thread_id: str = ""
    # The platform message a message command ("Ask torchtutor") is about: a Discord message id, a Slack ts.
    target: str = ""

    def with_command(self, command: str, text: str) -> Request:
        """The same request, routed to another command."""
        return replace(self, command=command, text=text, action=None)


@dataclass(frozen=True)
class Button:
    """A button: its action id is what comes back when it is pressed. Its label is plain text (buttons
    render no markdown on any platform), so markdown given to it is unwrapped here, once for all."""

    id: str
    label: str
    style: str = "secondary"

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", plain_text(self.label))


@dataclass(frozen=True)
class Image:
    """A PNG to show with a reply, or another file to attach (by its name's suffix: `output.txt`)."""

    data: bytes
    filename: str = "image.png"


@dataclass(frozen=True)
class Placement:
    """Where an adapter posted a reply, in its platform's ids: enough for any process to edit it later."""

    platform: str
    workspace_id: str
    channel_id: str
    message: dict[str, Any] = field(default_factory=dict)  # the platform's own ids (a Slack ts, a Discord id)

    def address(self) -> dict[str, Any]:
        """As JSON, without the platform (stored with a job row, which has it)."""
        return {"workspace_id": self.workspace_id, "channel_id": self.channel_id, "message": self.message}

    @classmethod
    def from_address(cls, platform: str, address: dict[str, Any]) -> Placement:
        return cls(platform, str(address.get("workspace_id", "")), str(address.get("channel_id", "")),
                   dict(address.get("message") or {}))


@dataclass(frozen=True)
class Progress:
    """How far a long task (a demo job) has got, for adapters that draw it (a bar, a percentage): a field of the
    reply, so nothing reads it back out of the text."""

    fraction: float  # 0..1, clamped
    label: str = ""  # the stage: "queued", "epoch 2/5", "succeeded"
    done: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "fraction", min(1.0, max(0.0, float(self.fraction))))


def new_reply_id() -> str:
    """A short unique id for a reply."""
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Reply:
    """What the core says: markdown text, buttons, images; `edits` names an earlier reply it replaces;
    `progress` how far the task it reports on has got (None: not a progress report)."""

    text: str
    title: str | None = None
    citation: str | None = None
    docs: tuple[tuple[str, str], ...] = ()  # (label, url) of the official documentation pages cited
    buttons: tuple[Button, ...] = ()
    images: tuple[Image, ...] = ()
    ephemeral: bool = False
    edits: str | None = None
    id: str = field(default_factory=new_reply_id)
    fields: tuple[tuple[str, str], ...] = ()
    kind: str = "message"
    progress: Progress | None = None
    # Post this publicly in the thread started on this platform message (created if missing), not where asked.
    in_thread_of: str | None = None
    # Delete, for everyone, the message whose button was pressed; the reply's own text is shown privately.
    retracts: bool = False

    def edit(self, **changes: Any) -> Reply:
        """A reply that replaces this one on screen."""
        changes.setdefault("edits", self.edits or self.id)
        changes.setdefault("id", new_reply_id())
        return replace(self, **changes)
