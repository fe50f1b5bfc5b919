"""Knowledge gaps: declined, low-confidence and 👎 questions grouped by meaning, and marked off by admins."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from bot.core.admin.entries import EntryDraft
from bot.core.admin.gaps import cluster
from bot.core.conversation import Person, Request
from bot.core.errors import NotFound
from tests.conftest import SEED

TENSORBOARD = ["how do I log my loss to tensorboard", "tensorboard logging of training curves",
               "How to write scalars to TensorBoard during training?"]
PIZZA = ["best pizza dough recipe", "how long should pizza dough rise"]
ATTENTION = ["what is an attention mask in a transformer", "how do transformer attention masks work"]


def test_greedy_clustering_groups_near_vectors() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    rows = [centres[i] + rng.normal(scale=0.05, size=16) for i in (0, 1, 0, 2, 1, 0)]
    vectors = np.stack([r / np.linalg.norm(r) for r in rows]).astype(np.float32)
    assert cluster(vectors, 0.8) == [[0, 2, 5], [1, 4], [3]]
    assert cluster(vectors, 1.01) == [[i] for i in range(6)]
    assert cluster(np.zeros((0, 16), dtype=np.float32)) == []


@pytest.fixture
def seed_runtime(migrated, embedder):  # type: ignore[no-untyped-def]
    from bot.runtime import build_runtime

    rt = build_runtime(migrated, paths=[SEED], encoder=embedder)
    rt.start()
    yield rt
    rt.close()


def _ask(runtime, text: str, user: str = "u1") -> int:  # type: ignore[no-untyped-def]
    request = Request(platform="console", user=Person(platform_id=user, name=user), channel_id="c", command="ask",
                      text=text)
    _, question_id = asyncio.run(runtime.qa.answer_and_record(request))
    return question_id


def test_declined_and_downvoted_questions_form_gaps_by_meaning(seed_runtime) -> None:  # type: ignore[no-untyped-def]
    for i, text in enumerate(TENSORBOARD + PIZZA + ATTENTION):
        _ask(seed_runtime, text, user=f"u{i % 2}")
    answered = _ask(seed_runtime, "How is a PyTorch tensor different from a numpy array?")
    _ask(seed_runtime, "How is a PyTorch tensor different from a numpy array?")  # answered, no vote: no gap
    vote = Request(platform="console", user=Person(platform_id="u9"), channel_id="c",
                   action=f"feedback:down:{answered}")
    asyncio.run(seed_runtime.qa.feedback(vote))

    gaps = seed_runtime.gaps.gaps()
    groups = sorted(sorted(gap.examples) for gap in gaps)
    assert sorted(TENSORBOARD) in groups and sorted(PIZZA) in groups and sorted(ATTENTION) in groups
    tensorboard = next(g for g in gaps if set(g.examples) == set(TENSORBOARD))
    assert gaps[0] is tensorboard  # most asked first
    assert (tensorboard.asked, tensorboard.people, tensorboard.reasons) == (3, 2, {"declined": 3})
    assert tensorboard.question in TENSORBOARD and tensorboard.key == f"gap-{min(tensorboard.question_ids)}"
    downvoted = next(g for g in gaps if "downvoted" in g.reasons)
    assert downvoted.question_ids == (answered,)
    payload = tensorboard.to_json()
    assert set(payload) >= {"key", "question", "asked", "people", "examples", "last_asked", "reasons"}


def test_gaps_close_when_an_entry_covers_them_or_an_admin_marks_them(seed_runtime) -> None:  # type: ignore[no-untyped-def]
    for text in TENSORBOARD + PIZZA:
        _ask(seed_runtime, text)
    seed_runtime.knowledge_admin.add(EntryDraft.create(
        question="How do I log training metrics to TensorBoard?",
        answer="Use `torch.utils.tensorboard.SummaryWriter` and call `writer.add_scalar('loss', loss, step)`.",
        aliases=["tensorboard logging", "write scalars to tensorboard"]), by="alice")
    gaps = seed_runtime.gaps.gaps()
    assert not [g for g in gaps if set(g.examples) & set(TENSORBOARD)]  # the new entry answers them now
    pizza = next(g for g in gaps if set(g.examples) == set(PIZZA))
    assert seed_runtime.gaps.mark(pizza.key, status="dismissed", by="bob") == 2
    assert all(g.key != pizza.key for g in seed_runtime.gaps.gaps())
    with pytest.raises(NotFound):
        seed_runtime.gaps.mark(pizza.key, status="resolved", by="bob")


def test_since_limits_the_window(seed_runtime) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    _ask(seed_runtime, PIZZA[0])
    assert seed_runtime.gaps.gaps(since_days=1)
    later = datetime.now(UTC) + timedelta(days=3)
    assert seed_runtime.gaps.gaps(since_days=1, now=later) == []
