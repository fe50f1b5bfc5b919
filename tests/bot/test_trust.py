"""Answers people can trust, as the person sees them in `torchtutor chat --json`: the entry about the API they
named, a close second offered, other frameworks declined, comparisons routed, and a helpful "I don't know"."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from bot.adapters.console import ConsoleChat
from bot.core.conversation import Person

DATA = Path(__file__).resolve().parents[1] / "knowledge" / "data"
NEIGHBOURS = DATA / "neighbours.md"
TERSE = DATA / "terse_interview.md"
STACK = "What does `torch.stack` do?"
COMBINE = "How do I combine several tensors into one?"


@pytest.fixture
def neighbours(migrated, embedder):  # type: ignore[no-untyped-def]
    from bot.runtime import build_runtime

    rt = build_runtime(migrated, paths=[NEIGHBOURS], encoder=embedder)
    rt.start()
    yield rt
    rt.close()


def chat(runtime, *lines: str) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    """The JSON messages the console adapter prints for these input lines, in order."""
    async def session() -> list[dict]:  # type: ignore[type-arg]
        out = io.StringIO()
        console = ConsoleChat(runtime.tutor, Person("ada", "Ada"), "c1", out=out)
        for line in lines:
            await console.feed(line)
            await console.drain()
        return [json.loads(line) for line in out.getvalue().splitlines()]

    return asyncio.run(session())


def test_the_entry_about_the_named_api_wins_and_the_close_one_is_offered(neighbours) -> None:  # type: ignore[no-untyped-def]
    question = "how do I combine tensors with torch.stack"
    vector = neighbours.encoder.encode([question])[0]
    nearest = neighbours.knowledge.index.search(vector, 2, text=question)
    assert [h.entry.question for h in nearest] == [COMBINE, STACK]  # by similarity alone the general entry wins
    [reply] = chat(neighbours, f"/ask {question}")
    assert reply["text"].startswith(f"**{STACK}**")
    assert f"the other is “{COMBINE}”" in reply["text"]
    assert reply["buttons"][0] == {"id": "ask:entry:how-do-i-combine-several-tensors-into-one", "label": COMBINE}


def test_an_unambiguous_answer_does_not_claim_a_close_second(neighbours) -> None:  # type: ignore[no-untyped-def]
    [reply] = chat(neighbours, "/ask what does model.train() do")
    assert reply["text"].startswith("**What does `model.train()` change?**")
    assert "Two entries fit" not in reply["text"]


def test_another_framework_alone_is_declined_and_comparisons_go_to_the_comparison_entry(neighbours) -> None:  # type: ignore[no-untyped-def]
    alone, compared, unmatched = chat(neighbours, "/ask tensorflow model.fit validation split",
                                      "/ask is pytorch better than tensorflow",
                                      "/ask pytorch vs jax for research")
    assert "question about TensorFlow" in alone["text"] and alone["buttons"] == []
    assert compared["text"].startswith("**How does PyTorch compare with TensorFlow?**")
    assert "no entry that compares PyTorch with JAX" in unmatched["text"]
    assert not any(b["id"].startswith("ask:entry:how-does-pytorch-compare") for b in unmatched["buttons"])


def test_i_dont_know_offers_the_three_nearest_entries_and_a_docs_search(migrated, embedder) -> None:  # type: ignore[no-untyped-def]
    from bot.runtime import build_runtime

    runtime = build_runtime(migrated, paths=[TERSE], encoder=embedder)
    runtime.start()
    try:
        question = "how do I quantize my model to int8 for a phone"
        declined, shown = chat(runtime, f"/ask {question}", "!click ask:entry:how-do-you-save-model-weights")
        gaps = runtime.gaps.gaps()
    finally:
        runtime.close()
    assert declined["text"].startswith("**No answer yet**\n\nI don't know that one yet")
    assert "The nearest entries I have" in declined["text"]
    entry_buttons = [b for b in declined["buttons"] if b["id"].startswith("ask:entry:")]
    assert len(entry_buttons) == 3 and len({b["id"] for b in entry_buttons}) == 3
    assert {"id": "ask:entry:how-do-you-save-model-weights", "label": "How do you save model weights?"} in entry_buttons
    link = declined["text"].rsplit("Docs: [Search the PyTorch documentation](", 1)[1].rstrip(")")
    assert urlparse(link).netloc == "docs.pytorch.org" and urlparse(link).path.endswith("/search.html")
    assert parse_qs(urlparse(link).query)["q"] == [question]
    assert shown["text"].startswith("**How do you save model weights?**")
    assert any(gap.question == question and gap.reasons.get("declined") for gap in gaps)
