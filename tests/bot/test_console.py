"""The reference adapter: `torchtutor chat --json` line in, contract JSON out."""

from __future__ import annotations

import json

from bot.adapters.console import ConsoleChat, parse_line
from bot.core.commands import CATALOGUE
from bot.core.conversation import Person, Request
from tests.conftest import cli

CHAT_KEYS = {"message_id", "edit", "text", "buttons", "images", "ephemeral"}


def test_parse_line_routes_commands_clicks_and_answers() -> None:
    base = Request(platform="console", user=Person("u"), channel_id="c")
    assert parse_line("/ask what is a tensor", base).command == "ask"  # type: ignore[union-attr]
    assert parse_line("/ASK what", base).text == "what"  # type: ignore[union-attr]
    assert parse_line("!click feedback:up:3", base).action == "feedback:up:3"  # type: ignore[union-attr]
    answer = parse_line("!answer the gradient", base)
    assert answer is not None and answer.command == "" and answer.text == "the gradient"
    assert parse_line("what is autograd", base).command == "ask"  # type: ignore[union-attr]
    assert parse_line("   ", base) is None


def test_chat_json_session(migrated) -> None:  # type: ignore[no-untyped-def]
    script = "/help\n/ask How is a PyTorch tensor different from a numpy array?\n/ask\n/nonsense\n!click fake:1\n"
    result = cli("chat", "--json", "--user", "alice", input=script)
    assert result.returncode == 0, result.stderr
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(set(m) == CHAT_KEYS for m in messages)
    texts = [m["text"] for m in messages]
    assert all(spec.help_line in texts[0] for spec in CATALOGUE) and messages[0]["ephemeral"]  # /help
    answer = next(m for m in messages if "Source:" in m["text"])
    assert "how-does-pytorch-s-tensor-object-differ-from-a-numpy-ndarray" in answer["text"]
    stable = "https://docs.pytorch.org/docs/stable"
    assert answer["text"].endswith(f"Docs: [torch.Tensor]({stable}/tensors.html), "
                                   f"[torch.from_numpy]({stable}/generated/torch.from_numpy.html), "
                                   f"[torch.Tensor.numpy]({stable}/generated/torch.Tensor.numpy.html)")
    assert "GPU" in answer["text"] and not answer["edit"]
    assert any(b["id"].startswith("feedback:up:") for b in answer["buttons"])
    assert any("Ask me a PyTorch question" in t for t in texts)
    assert any("/nonsense" in t for t in texts)
    assert any("no button" in t for t in texts)


def test_feedback_button_is_recorded_once_per_person(runtime) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import io

    from sqlalchemy import select

    from bot.db.models import Feedback, Question

    async def session() -> list[dict]:  # type: ignore[type-arg]
        out = io.StringIO()
        chat = ConsoleChat(runtime.tutor, Person("bob", "Bob"), "c1", out=out)
        await chat.feed("/ask what is a dynamic computation graph?")
        await chat.drain()
        first = json.loads(out.getvalue().splitlines()[0])
        up = next(b["id"] for b in first["buttons"] if b["id"].startswith("feedback:up:"))
        await chat.feed(f"!click {up}")
        await chat.drain()
        await chat.feed(f"!click {up.replace('up', 'down')}")
        await chat.drain()
        return [json.loads(line) for line in out.getvalue().splitlines()]

    messages = asyncio.run(session())
    assert "Thanks" in messages[1]["text"] and messages[1]["ephemeral"]
    with runtime.database.session() as s:
        question = s.scalars(select(Question)).one()
        assert question.status == "answered" and question.platform == "console"
        votes = s.scalars(select(Feedback)).all()
        assert [v.vote for v in votes] == [-1]  # changed, not doubled


# ----- a person at a terminal: rich rendering, numbered buttons, prompt_toolkit input

def shown(message: dict) -> str:  # type: ignore[type-arg]
    import io

    from rich.console import Console

    from bot.adapters.console import rendered

    out = io.StringIO()
    Console(file=out, width=70, highlight=False).print(rendered(message))
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


def test_a_terminal_shows_markdown_rendered_and_buttons_by_number() -> None:
    text = ("**Broadcasting**\n\nShapes are **aligned** from the `right`.\n\n- one\n- two\n\n"
            "```python\nx = a < b\n```\n\n_Source: entry (doc.md)_\n\nDocs: [torch.cat](https://docs.pytorch.org/c)")
    screen = shown({"edit": True, "text": text, "images": ["/tmp/x.png"], "ephemeral": False,
                    "buttons": [{"id": "feedback:up:1", "label": "👍 Helpful"}, {"id": "demo:run:x", "label": ""}]})
    assert "**" not in screen and "`" not in screen and "_Source" not in screen and "```" not in screen
    assert "Shapes are aligned from the right." in screen and "• one" in screen and "x = a < b" in screen
    assert "Source: entry (doc.md)" in screen and "torch.cat (https://docs.pytorch.org/c)" in screen
    assert screen.startswith("(edited)")
    assert "[1] 👍 Helpful  (feedback:up:1)" in screen and "[2] demo:run:x  (demo:run:x)" in screen
    assert "image: /tmp/x.png" in screen


def test_numbers_press_buttons_only_on_a_terminal(runtime) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import io

    from sqlalchemy import select

    from bot.db.models import Feedback

    async def session(terminal: bool) -> tuple[ConsoleChat, str, str]:
        out = io.StringIO()
        chat = ConsoleChat(runtime.tutor, Person("carol", "Carol"), "c2", out=out, terminal=terminal)
        await chat.feed("/ask what is a dynamic computation graph?")
        await chat.drain()
        answer = out.getvalue()
        number = next(n for n, i in enumerate(chat.numbered, 1) if i.startswith("feedback:down:")) if terminal else 1
        await chat.feed(str(number) if terminal else "!click 1")
        await chat.drain()
        return chat, answer, out.getvalue()[len(answer):]

    chat, answer, after = asyncio.run(session(terminal=True))
    assert "Source:" in answer and "**" not in answer
    down = next(n for n, i in enumerate(chat.numbered, 1) if i.startswith("feedback:down:"))
    assert f"[{down}] 👎 Not helpful" in answer
    assert "Thanks" in after
    with runtime.database.session() as s:
        assert [v.vote for v in s.scalars(select(Feedback)).all()] == [-1]
    assert chat.press_by_number(f"!click {down}") == f"!click {chat.numbered[down - 1]}"
    assert chat.press_by_number(str(len(chat.numbered) + 1)) == str(len(chat.numbered) + 1), "no such button: a line"

    plain, _, after = asyncio.run(session(terminal=False))
    assert plain.press_by_number("1") == "1" and "no button `1`" in after, "scripts keep ids only"


def test_the_terminal_reads_lines_with_editing_and_history(runtime) -> None:  # type: ignore[no-untyped-def]
    import asyncio
    import io

    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import InMemoryHistory
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from bot.adapters.console import run_terminal

    async def session() -> tuple[str, list[str]]:
        out = io.StringIO()
        chat = ConsoleChat(runtime.tutor, Person("dan", "Dan"), "c3", out=out, terminal=True)

        async def shown(times: int) -> None:  # typed keys wait for the screen, as a person would
            while out.getvalue().count("I teach PyTorch") < times:
                await asyncio.sleep(0.02)

        with create_pipe_input() as keys:
            prompt = PromptSession(input=keys, output=DummyOutput(), history=InMemoryHistory())
            reading = asyncio.create_task(run_terminal(chat, prompt))
            keys.send_text("/elp\x01\x1b[Ch\r")  # `/elp`, Ctrl-A (start of line), Right, `h`: `/help`
            await asyncio.wait_for(shown(1), 60)
            keys.send_text("\x1b[A\r")  # Up: the line from history, again
            await asyncio.wait_for(shown(2), 60)
            keys.send_text("\x04")  # Ctrl-D
            await asyncio.wait_for(reading, 60)
        return out.getvalue(), list(prompt.history.get_strings())

    screen, history = asyncio.run(session())
    assert history == ["/help"], "kept once: prompt_toolkit skips a repeat of the last line"
    assert screen.count("I teach PyTorch") == 2 and "**" not in screen, "the help shown twice, rendered"
