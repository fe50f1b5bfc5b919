"""Thresholds fitted per knowledge base: from its own score distributions, recomputed when entries change."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.core.answering.knowledge import KnowledgeService
from bot.core.answering.matching import AskService
from knowledge.cache import EmbeddingCache
from knowledge.calibration import ALPHA, BOUNDS, FALLBACK, fit, keyword_probe, sentinels
from knowledge.evaluation import parse_cases

REPO = Path(__file__).resolve().parents[2]
TERSE = Path(__file__).parent / "data" / "terse_interview.md"


def test_fit_puts_the_threshold_between_noise_and_signal() -> None:
    negatives = np.linspace(0.1, 0.3, 50)  # 90th percentile 0.28
    positives = np.linspace(0.6, 0.9, 40)  # 10th percentile 0.63
    calibration = fit(negatives, positives)
    assert calibration.fitted and calibration.reason == "fitted"
    assert calibration.answer == pytest.approx(0.28 + ALPHA * (0.63 - 0.28), abs=1e-3)
    assert calibration.related < calibration.answer
    assert calibration.suggest == pytest.approx(0.28, abs=1e-3)
    assert BOUNDS[0] <= calibration.answer <= BOUNDS[1]


def test_fit_falls_back_to_the_constants_when_phrasings_do_not_clear_the_noise() -> None:
    calibration = fit(np.full(20, 0.5), np.full(20, 0.4))
    assert not calibration.fitted and (calibration.answer, calibration.related) == (FALLBACK.answer, FALLBACK.related)
    assert "do not score above" in calibration.reason
    assert fit(np.array([]), np.array([0.5])).reason == "nothing to measure"


def test_keyword_probes_drop_question_templates_and_the_library_name() -> None:
    assert keyword_probe("How do you create a tensor with random values in PyTorch?") == "create tensor random values"
    assert keyword_probe("What is the role of `torch.arange`?") == "role torch.arange"
    assert keyword_probe("how?") == "how?"  # nothing left: the text as it is


def test_sentinels_are_not_in_the_evaluation_sets() -> None:
    asked = {case.question.lower() for name in ("dev_wild", "thirdparty_questions", "tuning_questions")
             for case in parse_cases((REPO / "knowledge" / "eval" / f"{name}.tsv").read_text())}
    assert len(sentinels()) >= 60
    assert not asked & {s.lower() for s in sentinels()}


@pytest.fixture(scope="module")
def pack_and_terse(embedder, tmp_path_factory):  # type: ignore[no-untyped-def]
    cache = EmbeddingCache(tmp_path_factory.mktemp("cache"), embedder.name)
    pack = KnowledgeService([REPO / "knowledge" / "docs"], embedder, cache)
    terse = KnowledgeService([TERSE], embedder, cache)
    pack.reload()
    terse.reload()
    return pack, terse


def test_each_knowledge_base_gets_its_own_thresholds(pack_and_terse) -> None:  # type: ignore[no-untyped-def]
    pack, terse = pack_and_terse
    assert pack.calibration.fitted and terse.calibration.fitted
    # Terse one-line answers without other phrasings score lower for the questions they answer.
    assert terse.calibration.answer < pack.calibration.answer - 0.05
    assert terse.calibration.probes == 12 and pack.calibration.probes > len(pack.index)


def test_a_terse_knowledge_base_answers_what_the_pack_constants_would_decline(embedder, pack_and_terse) -> None:  # type: ignore[no-untyped-def]
    _, terse = pack_and_terse
    fitted = AskService(terse, embedder)
    constants = AskService(terse, embedder, threshold=FALLBACK.answer)
    answer = fitted.answer("build my own layer class")
    assert answer.answered and answer.hit is not None
    assert answer.hit.entry.question == "How do you define a custom layer?"
    assert not constants.answer("build my own layer class").answered
    assert constants.calibration.reason == "set in the configuration" and constants.threshold == FALLBACK.answer
    for question in ("what's the capital of france", "docker container exits immediately"):
        assert not fitted.answer(question).answered, question
    assert fitted.answer("change the shape of a tensor").hit.entry.question == "How do you reshape a tensor?"  # type: ignore[union-attr]


def test_thresholds_are_refitted_when_the_entries_change(embedder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "kb.md"
    docs.write_text(TERSE.read_text())
    knowledge = KnowledgeService([docs], embedder, EmbeddingCache(tmp_path / "cache", embedder.name))
    ask = AskService(knowledge, embedder)
    knowledge.reload()
    before = ask.calibration
    assert before.fitted
    # Three entries with many phrasings each: the probes of the knowledge base now score differently.
    extra = "".join(
        f"\n\n### {question}\nAlso asked: {' | '.join(aliases)}\n\n**Answer:**\n{answer}\n"
        for question, aliases, answer in [
            ("What is `torch.einsum`?", ["einsum notation", "einstein summation in torch"],
             "`torch.einsum('ij,jk->ik', a, b)` multiplies matrices by naming their indices."),
            ("How do I seed random numbers?", ["torch.manual_seed", "reproducible random numbers"],
             "Call `torch.manual_seed(0)` at the start of the program."),
            ("What does `torch.no_grad()` do?", ["no_grad context manager", "turn off autograd"],
             "Inside it, operations are not recorded for backward."),
        ])
    docs.write_text(TERSE.read_text() + extra)
    knowledge.reload()
    after = ask.calibration
    assert after.fitted and after.probes > before.probes
    assert after != before and ask.threshold == after.answer


def test_a_knowledge_base_too_small_to_measure_uses_the_constants(embedder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "tiny.md"
    docs.write_text("### What is a tensor?\n\n**Answer:**\nAn n-dimensional array.\n")
    knowledge = KnowledgeService([docs], embedder)
    knowledge.reload()
    assert not knowledge.calibration.fitted and "too few entries" in knowledge.calibration.reason
    assert AskService(knowledge, embedder).threshold == FALLBACK.answer
