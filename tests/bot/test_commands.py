"""The command catalogue: one list from which every platform's commands and `/help` are built."""

from __future__ import annotations

import re

from bot.core.commands import BY_NAME, CATALOGUE, NAMES, Audience, OptionKind, help_lines
from bot.core.conversation import Person, Reply, Request
from bot.core.tutor import Tutor


def _request(command: str) -> Request:
    return Request(platform="console", user=Person("u"), channel_id="c", command=command)


async def _nothing(request: Request) -> Reply:
    return Reply("ok")


async def test_help_lists_every_catalogue_command_with_a_handler_in_catalogue_order() -> None:
    tutor = Tutor()
    for name in reversed(NAMES):
        if name != "help":  # the Tutor's own
            tutor.command(name, _nothing)
    (help_,) = await tutor.collect(_request("help"))
    lines = [line for line in help_.text.splitlines() if line.startswith("`/")]
    assert lines == [spec.help_line for spec in CATALOGUE] and help_.ephemeral
    assert "`/ask QUESTION`: Ask a PyTorch question; the answer cites its source" in lines
    assert "`/study start|stop|status [schedule]`: Scheduled study questions for this channel (channel managers)" \
        in lines
    assert any(line.endswith("(`/run on|off|status`: channel managers)") for line in lines)


async def test_help_leaves_out_commands_nobody_answers() -> None:
    tutor = Tutor()
    tutor.command("quiz", _nothing)
    (help_,) = await tutor.collect(_request("help"))
    assert [line.split("`")[1].split()[0] for line in help_.text.splitlines() if line.startswith("`/")] == [
        "/quiz", "/help"]
    assert help_lines({"leaderboard", "not-a-command"}) == ["`/leaderboard`: This channel's ranking"]


def test_a_command_text_is_its_option_values_in_catalogue_order() -> None:
    assert BY_NAME["demo"].text({"params": " steps=5 ", "name": "train-tiny"}) == "train-tiny steps=5"
    assert BY_NAME["study"].text({"action": "start", "schedule": None}) == "start"
    assert BY_NAME["leaderboard"].text({}) == ""
    assert BY_NAME["review"].usage == "/review [mistakes]" and BY_NAME["stats"].usage == "/stats [@user]"


def test_the_catalogue_fits_every_platform() -> None:
    assert len(set(NAMES)) == len(NAMES) and "help" in NAMES
    for spec in CATALOGUE:
        # Discord: lower-case names of at most 32 characters, descriptions of 1 to 100; Slack: commands of 32.
        assert re.fullmatch(r"[a-z][a-z0-9_-]{0,30}", spec.name), spec.name
        assert 0 < len(spec.summary) <= 100, spec.name
        assert [o.required for o in spec.options] == sorted((o.required for o in spec.options), reverse=True)
        for option in spec.options:
            assert re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", option.name) and 0 < len(option.description) <= 100
            assert len(option.choices) <= 25 and (option.placeholder or option.choices)
            assert option.kind is OptionKind.TEXT or not option.choices
    assert BY_NAME["study"].audience is Audience.CHANNEL_MANAGERS
    assert {spec.name for spec in CATALOGUE if spec.private} == {"help", "quiz", "review", "stats"}
