"""The slash commands: each one acknowledges, then hands its options to the core as one text."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import discord
from discord import app_commands

from workers.demos import Demo

CHOICE_LIMIT = 25
CHOICE_TEXT_LIMIT = 100
# Commands whose first answer is usually for the invoker alone, so their deferral is ephemeral from the start.
PRIVATE_COMMANDS = frozenset({"help", "quiz", "review", "stats"})


class CommandRunner(Protocol):
    """What the commands need from the client."""

    async def run_command(self, interaction: discord.Interaction, command: str, text: str) -> None: ...


Suggest = Callable[[str], Sequence[str]]


def build_commands(runner: CommandRunner, demos: Sequence[Demo], suggest_questions: Suggest | None = None,
                   suggest_topics: Suggest | None = None) -> list[app_commands.Command[Any, ..., Any]]:
    """The application commands, each forwarding to `runner.run_command`."""

    @app_commands.command(name="ask", description="Ask a PyTorch question; the answer cites its source")
    @app_commands.describe(question="What you want to know, e.g. how do I move a tensor to the GPU?")
    async def ask(interaction: discord.Interaction, question: app_commands.Range[str, 1, 2000]) -> None:
        await runner.run_command(interaction, "ask", question)

    @ask.autocomplete("question")
    async def ask_questions(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        if suggest_questions is None:
            return []
        return [_choice(q, q) for q in suggest_questions(current)[:CHOICE_LIMIT]]

    by_name = {demo.name: demo for demo in demos}

    @app_commands.command(name="demo", description="Run a live PyTorch demo and watch it progress")
    @app_commands.describe(name="Which demo", params="Parameters as key=value pairs, e.g. steps=100 lr=0.01")
    async def demo(interaction: discord.Interaction, name: str, params: str | None = None) -> None:
        await runner.run_command(interaction, "demo", f"{name} {params or ''}")

    if 0 < len(demos) <= CHOICE_LIMIT:
        choices = [_choice(f"{d.name}: {d.title}", d.name) for d in demos]
        demo = app_commands.choices(name=choices)(demo)
    else:
        @demo.autocomplete("name")
        async def demo_names(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            typed = current.lower()
            found = [d for d in demos if typed in d.name or typed in d.title.lower()]
            return [_choice(f"{d.name}: {d.title}", d.name) for d in found[:CHOICE_LIMIT]]

    @demo.autocomplete("params")
    async def demo_params(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        chosen = by_name.get(str(getattr(interaction.namespace, "name", "") or ""))
        hints = [current] if current.strip() else []
        if chosen is not None:
            defaults = " ".join(f"{key}={schema['default']}" for key, schema in
                                chosen.params.get("properties", {}).items() if "default" in schema)
            if defaults and defaults != current:
                hints.append(defaults)
        return [_choice(hint, hint) for hint in hints]

    @app_commands.command(name="quiz", description="Take a short PyTorch quiz, graded at once")
    @app_commands.describe(topic="Optional topic, e.g. autograd")
    async def quiz(interaction: discord.Interaction, topic: str | None = None) -> None:
        await runner.run_command(interaction, "quiz", topic or "")

    @quiz.autocomplete("topic")
    async def quiz_topics(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        if suggest_topics is None:
            return []
        # The bank may be rebuilding (after a knowledge edit): never on the gateway's event loop.
        topics = await asyncio.to_thread(suggest_topics, current)
        return [_choice(topic, topic) for topic in topics[:CHOICE_LIMIT]]

    @app_commands.command(name="review", description="Review the questions that are due for you")
    @app_commands.describe(what="What to go over: the questions due now (default), or your mistakes")
    @app_commands.choices(what=[app_commands.Choice(name="due now", value="due"),
                                app_commands.Choice(name="my mistakes", value="mistakes")])
    async def review(interaction: discord.Interaction, what: str | None = None) -> None:
        await runner.run_command(interaction, "review", what or "")

    @app_commands.command(name="study", description="Scheduled study questions for this channel")
    # Shown to channel managers by default (a server can widen it); the core checks again for start and stop.
    @app_commands.default_permissions(manage_channels=True)
    @app_commands.describe(action="start, stop or status", schedule="When to post, e.g. daily 09:00")
    @app_commands.choices(action=[app_commands.Choice(name=a, value=a) for a in ("start", "stop", "status")])
    async def study(interaction: discord.Interaction, action: str, schedule: str | None = None) -> None:
        await runner.run_command(interaction, "study", f"{action} {schedule or ''}")

    @app_commands.command(name="stats", description="Progress: attempts, accuracy, streak")
    @app_commands.describe(user="Whose progress (default: yours)")
    async def stats(interaction: discord.Interaction, user: discord.User | None = None) -> None:
        # The platform's mention syntax, which the core reads as a person on this platform.
        await runner.run_command(interaction, "stats", f"<@{user.id}>" if user else "")

    @app_commands.command(name="leaderboard", description="This channel's ranking")
    async def leaderboard(interaction: discord.Interaction) -> None:
        await runner.run_command(interaction, "leaderboard", "")

    @app_commands.command(name="help", description="What torchtutor can do")
    async def help_(interaction: discord.Interaction) -> None:
        await runner.run_command(interaction, "help", "")

    return [ask, demo, *run_commands(runner), quiz, review, study, stats, leaderboard, help_]


RUN_MENU = "Run with torchtutor"
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


def run_commands(runner: CommandRunner) -> list[Any]:
    """`/run [code] [switch]` (no code: a modal asks for it) and the "Run with torchtutor" message command."""

    @app_commands.command(name="run", description="Run your own PyTorch code in the sandbox")
    @app_commands.describe(code="One line of code; leave empty for a form with room for more",
                           switch="Channel admins: turn /run on or off here, or see its status")
    @app_commands.choices(switch=[app_commands.Choice(name=a, value=a) for a in ("on", "off", "status")])
    async def run(interaction: discord.Interaction, code: str | None = None, switch: str | None = None) -> None:
        if switch:
            await runner.run_command(interaction, "run", switch)
        elif code and code.strip():
            await runner.run_command(interaction, "run", code)
        else:
            await interaction.response.send_modal(SnippetModal(runner))

    async def run_message(interaction: discord.Interaction, message: discord.Message) -> None:
        await runner.run_command(interaction, "run", message.content)

    return [run, app_commands.ContextMenu(name=RUN_MENU, callback=run_message)]


def _choice(name: str, value: str) -> app_commands.Choice[str]:
    return app_commands.Choice(name=_clip(name), value=_clip(value))


def _clip(text: str) -> str:
    return text if len(text) <= CHOICE_TEXT_LIMIT else text[: CHOICE_TEXT_LIMIT - 1] + "…"

