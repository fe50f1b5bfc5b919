"""The slash commands, built from the core's catalogue: each one acknowledges, then hands its options to the core
as one text."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Protocol

import discord
from discord import app_commands

from bot.core.commands import CATALOGUE, Audience, Command, Option, OptionKind
from workers.demos import Demo

CHOICE_LIMIT = 25
CHOICE_TEXT_LIMIT = 100
RUN_MENU = "Run with torchtutor"
ASK_MENU = "Ask torchtutor"
ASK_MESSAGE = "ask_message"  # the core's command behind "Ask torchtutor"
# Commands whose first answer is usually for the invoker alone, so their deferral is ephemeral from the start.
PRIVATE_COMMANDS = frozenset(spec.name for spec in CATALOGUE if spec.private) | {ASK_MESSAGE}


class CommandRunner(Protocol):
    """What the commands need from the client."""

    async def run_command(self, interaction: discord.Interaction, command: str, text: str,
                          target: str = "") -> None: ...


Suggest = Callable[[str], Sequence[str]]
AppCommand = app_commands.Command[Any, ..., Any]
# What a command does with its option values; by default, hands the catalogue's text to `runner.run_command`.
OnCall = Callable[[discord.Interaction, dict[str, str | None]], Awaitable[None]]

_PERMISSIONS = {Audience.CHANNEL_MANAGERS: discord.Permissions(manage_channels=True),
                Audience.ADMINS: discord.Permissions(administrator=True)}


def build_commands(runner: CommandRunner, demos: Sequence[Demo], suggest_questions: Suggest | None = None,
                   suggest_topics: Suggest | None = None) -> list[AppCommand | app_commands.ContextMenu]:
    """The application commands of the catalogue, each forwarding to `runner.run_command`, and the message commands
    "Run with torchtutor" and "Ask torchtutor"."""
    demo_choices = ([_choice(f"{d.name}: {d.title}", d.name) for d in demos]
                    if 0 < len(demos) <= CHOICE_LIMIT else None)
    built = {spec.name: app_command(spec, runner, on_call=_run_call(runner) if spec.name == "run" else None,
                                    choices={"name": demo_choices} if spec.name == "demo" and demo_choices else None)
             for spec in CATALOGUE}
    _suggestions(built, demos, suggest_questions, suggest_topics, autocomplete_names=demo_choices is None)
    return [*built.values(), app_commands.ContextMenu(name=RUN_MENU, callback=_run_message(runner)),
            app_commands.ContextMenu(name=ASK_MENU, callback=_ask_message(runner))]


def app_command(spec: Command, runner: CommandRunner, *, on_call: OnCall | None = None,
                choices: dict[str, list[app_commands.Choice[str]]] | None = None) -> AppCommand:
    """One catalogue command as a Discord app command: its options as typed parameters, described, with their
    choices (or `choices` given here, for lists known only at start), shown to the command's audience."""

    async def forward(interaction: discord.Interaction, values: dict[str, str | None]) -> None:
        await runner.run_command(interaction, spec.name, spec.text(values))

    call = on_call or forward

    async def callback(interaction: discord.Interaction, **given: Any) -> None:
        await call(interaction, {name: _as_text(value) for name, value in given.items()})

    callback.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction),
         *(_parameter(option) for option in spec.options)])
    described: Any = app_commands.describe(**{o.name: o.description for o in spec.options})(callback)
    menus = {o.name: [app_commands.Choice(name=c.label, value=c.value) for c in o.choices]
             for o in spec.options if o.choices}
    if menus or choices:
        described = app_commands.choices(**{**menus, **(choices or {})})(described)
    if spec.audience in _PERMISSIONS:
        described = app_commands.default_permissions(_PERMISSIONS[spec.audience])(described)
    return app_commands.Command(name=spec.name, description=spec.summary, callback=described)


def _parameter(option: Option) -> inspect.Parameter:
    kind: Any = discord.User if option.kind is OptionKind.PERSON else str
    if option.max_length is not None:
        kind = app_commands.Range[str, 1, option.max_length]
    return inspect.Parameter(option.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                             annotation=kind if option.required else kind | None,
                             default=inspect.Parameter.empty if option.required else None)


def _as_text(value: Any) -> str | None:
    """An option's value as the core reads it: a person as the platform's mention syntax."""
    if isinstance(value, discord.abc.User):
        return f"<@{value.id}>"
    return None if value is None else str(value)


def _suggestions(built: dict[str, AppCommand], demos: Sequence[Demo], suggest_questions: Suggest | None,
                 suggest_topics: Suggest | None, *, autocomplete_names: bool) -> None:
    """Autocomplete for the options whose values are only known while running: questions, demos, topics."""
    by_name = {demo.name: demo for demo in demos}

    @built["ask"].autocomplete("question")
    async def ask_questions(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        if suggest_questions is None:
            return []
        return [_choice(q, q) for q in suggest_questions(current)[:CHOICE_LIMIT]]

    if autocomplete_names:
        @built["demo"].autocomplete("name")
        async def demo_names(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            typed = current.lower()
            found = [d for d in demos if typed in d.name or typed in d.title.lower()]
            return [_choice(f"{d.name}: {d.title}", d.name) for d in found[:CHOICE_LIMIT]]

    @built["demo"].autocomplete("params")
    async def demo_params(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        chosen = by_name.get(str(getattr(interaction.namespace, "name", "") or ""))
        hints = [current] if current.strip() else []
        if chosen is not None:
            defaults = " ".join(f"{key}={schema['default']}" for key, schema in
                                chosen.params.get("properties", {}).items() if "default" in schema)
            if defaults and defaults != current:
                hints.append(defaults)
        return [_choice(hint, hint) for hint in hints]

    @built["quiz"].autocomplete("topic")
    async def quiz_topics(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        if suggest_topics is None:
            return []
        # The bank may be rebuilding (after a knowledge edit): never on the gateway's event loop.
        topics = await asyncio.to_thread(suggest_topics, current)
        return [_choice(topic, topic) for topic in topics[:CHOICE_LIMIT]]


CODE_INPUT_LIMIT = 4000  # Discord's most for a text input


class SnippetModal(discord.ui.Modal, title="Run PyTorch code"):
    """`/run` without code: a form with one multi-line code field; submitting it runs the code."""

    code: discord.ui.TextInput[SnippetModal] = discord.ui.TextInput(
        label="Code", style=discord.TextStyle.paragraph, max_length=CODE_INPUT_LIMIT, custom_id="run:code",
        placeholder="import torch\nprint(torch.randn(2, 2))")

    def __init__(self, runner: CommandRunner) -> None:
        super().__init__(custom_id="run:snippet")
        self.runner = runner

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self.runner.run_command(interaction, "run", self.code.value)


def _run_call(runner: CommandRunner) -> OnCall:
    """`/run [code] [switch]`: the switch first; no code opens a form (a modal) that asks for it."""

    async def run(interaction: discord.Interaction, values: dict[str, str | None]) -> None:
        switch, code = values.get("switch"), values.get("code")
        if switch:
            await runner.run_command(interaction, "run", switch)
        elif code and code.strip():
            await runner.run_command(interaction, "run", code)
        else:
            await interaction.response.send_modal(SnippetModal(runner))

    return run


def _run_message(runner: CommandRunner) -> Callable[[discord.Interaction, discord.Message], Coroutine[Any, Any, None]]:
    """The "Run with torchtutor" message command: `/run` on the message's text."""

    async def run_message(interaction: discord.Interaction, message: discord.Message) -> None:
        await runner.run_command(interaction, "run", message.content)

    return run_message


def _ask_message(runner: CommandRunner) -> Callable[[discord.Interaction, discord.Message], Coroutine[Any, Any, None]]:
    """The "Ask torchtutor" message command: the message's text (code fences and all) asked about privately."""

    async def ask_message(interaction: discord.Interaction, message: discord.Message) -> None:
        await runner.run_command(interaction, ASK_MESSAGE, message.content, str(message.id))

    return ask_message


def _choice(name: str, value: str) -> app_commands.Choice[str]:
    return app_commands.Choice(name=_clip(name), value=_clip(value))


def _clip(text: str) -> str:
    return text if len(text) <= CHOICE_TEXT_LIMIT else text[: CHOICE_TEXT_LIMIT - 1] + "…"

