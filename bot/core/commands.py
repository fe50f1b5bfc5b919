"""The command catalogue: every chat command once, with its options and who may use it.

Discord's app commands, Slack's slash commands and manifests, and `/help` on every platform are built from it;
adding a command here (and registering its handler with the Tutor) is all a platform adapter needs.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass


class Audience(enum.Enum):
    """Who may use a command (or one of its options); the core checks it again where it matters."""

    EVERYONE = "everyone"
    CHANNEL_MANAGERS = "channel managers"
    ADMINS = "admins"


class OptionKind(enum.Enum):
    """What an option holds: free text, or a person (written as the platform's mention, `<@id>`)."""

    TEXT = "text"
    PERSON = "person"


@dataclass(frozen=True)
class Choice:
    """One allowed value of an option, with the label a menu shows."""

    value: str
    label: str


@dataclass(frozen=True)
class Option:
    """One argument of a command; the values of a command's options, in order, make its text for the core."""

    name: str
    description: str
    placeholder: str = ""  # how usage lines write the value; the choices (a|b) when empty
    kind: OptionKind = OptionKind.TEXT
    required: bool = False
    choices: tuple[Choice, ...] = ()
    max_length: int | None = None
    audience: Audience = Audience.EVERYONE

    @property
    def usage(self) -> str:
        """`QUESTION`, `[topic]`, `start|stop|status`."""
        shown = self.placeholder or "|".join(choice.value for choice in self.choices)
        return shown if self.required else f"[{shown}]"


@dataclass(frozen=True)
class Command:
    """A chat command: `/name OPTION ...`."""

    name: str
    summary: str  # one line; Discord allows 100 characters
    options: tuple[Option, ...] = ()
    audience: Audience = Audience.EVERYONE
    private: bool = False  # the first answer is usually for the person alone

    @property
    def usage(self) -> str:
        """`/ask QUESTION`, `/quiz [topic]`."""
        return " ".join((f"/{self.name}", *(option.usage for option in self.options)))

    @property
    def help_line(self) -> str:
        """The command's line in `/help`."""
        notes = [] if self.audience is Audience.EVERYONE else [self.audience.value]
        notes += [f"`/{self.name} {option.usage.strip('[]')}`: {option.audience.value}" for option in self.options
                  if option.audience is not Audience.EVERYONE]
        return f"`{self.usage}`: {self.summary}" + (f" ({'; '.join(notes)})" if notes else "")

    def text(self, values: Mapping[str, str | None]) -> str:
        """The text the core reads: the given option values, in the catalogue's order, separated by spaces."""
        given = (values.get(option.name) for option in self.options)
        return " ".join(value.strip() for value in given if value and value.strip())


def _choices(*values: str) -> tuple[Choice, ...]:
    return tuple(Choice(value, value) for value in values)


CATALOGUE: tuple[Command, ...] = (
    Command("ask", "Ask a PyTorch question; the answer cites its source", (
        Option("question", "What you want to know, e.g. how do I move a tensor to the GPU?", "QUESTION",
               required=True, max_length=2000),
    )),
    Command("demo", "Run a live PyTorch demo and watch it progress", (
        Option("name", "Which demo", "NAME", required=True),
        Option("params", "Parameters as key=value pairs, e.g. steps=100 lr=0.01", "key=value ..."),
    )),
    Command("run", "Run your own PyTorch code in the sandbox", (
        Option("code", "One line of code; leave empty for a form with room for more", "CODE"),
        Option("switch", "Channel managers: turn /run on or off here, or see its status",
               choices=_choices("on", "off", "status"), audience=Audience.CHANNEL_MANAGERS),
    )),
    Command("quiz", "Take a short PyTorch quiz, graded at once", (
        Option("topic", "Optional topic, e.g. autograd", "topic"),
    ), private=True),
    Command("review", "Review the questions that are due for you, or retry your mistakes", (
        Option("what", "What to go over: the questions due now (default), or your mistakes", "mistakes",
               choices=(Choice("due", "due now"), Choice("mistakes", "my mistakes"))),
    ), private=True),
    Command("study", "Scheduled study questions for this channel", (
        Option("action", "start, stop or status", required=True, choices=_choices("start", "stop", "status")),
        Option("schedule", "When to post, e.g. daily 09:00", "schedule"),
    ), audience=Audience.CHANNEL_MANAGERS),
    Command("autoanswer", "Answer every new post in this channel, when sure, in its thread", (
        Option("action", "on, off or status", required=True, choices=_choices("on", "off", "status")),
    ), audience=Audience.CHANNEL_MANAGERS),
    Command("stats", "Progress: attempts, accuracy, streak", (
        Option("user", "Whose progress (default: yours)", "@user", kind=OptionKind.PERSON),
    ), private=True),
    Command("leaderboard", "This channel's ranking"),
    Command("help", "What torchtutor can do", private=True),
)

BY_NAME: dict[str, Command] = {command.name: command for command in CATALOGUE}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def help_lines(available: Collection[str]) -> list[str]:
    """The `/help` lines of the catalogue's commands that have a handler, in the catalogue's order."""
    return [command.help_line for command in CATALOGUE if command.name in available]
