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
