"""`/run` on Discord through the real discord.py client and the loopback Discord: the slash command, its modal
for longer code, and the "Run with torchtutor" message command, each reaching the core as a `run` request."""

from __future__ import annotations

from collections.abc import AsyncIterator

from bot.core.conversation import Reply, Request
from tests.adapters.test_discord import StubTutor, fake, running, until  # noqa: F401 - `fake` is a fixture
from tests.fakes.discord_server import FakeDiscord

CODE = "import torch\nx = torch.ones(2, requires_grad=True)\n(x * 3).sum().backward()\nprint(x.grad)"


class RunTutor(StubTutor):
    """Records each `run` request and answers with what it got."""

    def __init__(self) -> None:
        super().__init__()
        self.command("run", self._run)

    async def _run(self, request: Request) -> AsyncIterator[Reply]:
        self.requests.append(request)
        yield Reply(f"running {len(request.text)} characters", title="Your snippet")


def runs(tutor: RunTutor) -> list[str]:
    return [r.text for r in tutor.requests if r.command == "run"]


async def test_run_and_the_message_command_are_synced(fake: FakeDiscord) -> None:  # noqa: F811
    async with running(fake, RunTutor()):
        synced = {(c["name"], c.get("type", 1)): c for c in fake.commands[None]}
        run = synced[("run", 1)]
        assert [o["name"] for o in run["options"]] == ["code", "switch"]
        assert not any(o.get("required") for o in run["options"])
        assert [c["value"] for c in run["options"][1]["choices"]] == ["on", "off", "status"]
        menu = synced[("Run with torchtutor", 3)]
        assert menu.get("description", "") == ""  # message commands carry no description


async def test_run_without_code_opens_a_modal_whose_code_is_run(fake: FakeDiscord) -> None:  # noqa: F811
    tutor = RunTutor()
    async with running(fake, tutor):
        opened = await fake.send_slash_command("run")
        ack = await fake.wait_for_ack(opened.id)
        assert ack.callback_type == 9  # a modal is the whole answer: no deferral, no message
        [modal] = fake.modals_shown()
        assert modal["custom_id"] == "run:snippet" and modal["title"] == "Run PyTorch code"
        [row] = modal["components"]
        [field] = row["components"]
        assert (field["type"], field["custom_id"], field["style"]) == (4, "run:code", 2)  # paragraph text input
        assert runs(tutor) == []

        submitted = await fake.send_modal_submit("run:snippet", {"run:code": CODE})
        submit_ack = await fake.wait_for_ack(submitted.id)
        assert submit_ack.callback_type == 5  # deferred at once, answered when the core replies
        await until(lambda: runs(tutor))
        assert runs(tutor) == [CODE]
        await until(lambda: any(f"running {len(CODE)} characters" in str(m) for m in fake.messages.values()))


async def test_code_and_switches_in_the_slash_command(fake: FakeDiscord) -> None:  # noqa: F811
    tutor = RunTutor()
    async with running(fake, tutor):
        await fake.wait_for_ack((await fake.send_slash_command("run", {"code": "print(6 * 7)"})).id)
        await fake.wait_for_ack((await fake.send_slash_command("run", {"switch": "on"})).id)
        await until(lambda: len(runs(tutor)) == 2)
        assert runs(tutor) == ["print(6 * 7)", "on"]
        assert fake.modals_shown() == []


async def test_run_with_torchtutor_on_a_message_runs_its_code_block(fake: FakeDiscord) -> None:  # noqa: F811
    tutor = RunTutor()
    async with running(fake, tutor):
        message = await fake.send_user_message(f"why is this 3?\n```python\n{CODE}\n```", mention_bot=False)
        sent = await fake.send_message_command("Run with torchtutor", int(message["id"]))
        ack = await fake.wait_for_ack(sent.id)
        assert ack.callback_type == 5
        await until(lambda: runs(tutor))
        [text] = runs(tutor)
        assert text == f"why is this 3?\n```python\n{CODE}\n```"
        [request] = [r for r in tutor.requests if r.command == "run"]
        assert request.platform == "discord" and request.channel_id == str(fake.channel_id)


def test_a_runs_output_file_is_attached_and_only_a_figure_is_shown_in_the_embed() -> None:
    from bot.adapters.discord.render import render
    from bot.core.conversation import Image

    png = b"\x89PNG\r\n\x1a\n" + bytes(16)
    both = render(Reply("done", title="Your snippet", images=(Image(png, "figure-1.png"), Image(b"all", "output.txt"))))
    assert [f.filename for f in both.files()] == ["figure-1.png", "output.txt"]
    assert both.embeds[0].image.url == "attachment://figure-1.png"
    text_only = render(Reply("done", title="Your snippet", images=(Image(b"all", "output.txt"),)))
    assert [f.filename for f in text_only.files()] == ["output.txt"] and text_only.embeds[0].image.url is None
