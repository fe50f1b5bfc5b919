"""Named APIs in a question: which names are found, and how they re-rank and discount entries."""

from __future__ import annotations

import pytest

from knowledge.entries import Entry
from knowledge.index import Hit
from knowledge.precision import (
    COVERAGE_FLOOR,
    SURE_DENSE,
    UNCOVERED_PENALTY,
    UNNAMED_PENALTY,
    about,
    discounted,
    is_pasted_error,
    mentions,
    named_apis,
    prefer_named,
    uncovered,
)


def entry(question: str, answer: str = "", aliases: tuple[str, ...] = ()) -> Entry:
    return Entry(id=question.lower().replace(" ", "-"), question=question, answer=answer, aliases=aliases)


def test_named_apis_finds_dotted_names_calls_snake_and_camel_case() -> None:
    assert named_apis("what does model.train() do") == ("model.train",)
    assert named_apis("torch.cat vs torch.stack") == ("torch.cat", "torch.stack")
    assert named_apis("BCELoss vs BCEWithLogitsLoss and pos_weight") == ("pos_weight", "bceloss", "bcewithlogitsloss")
    assert named_apis("clip_grad_norm_ usage after backward()") == ("backward", "clip_grad_norm_")
    assert named_apis("torch.autograd.grad vs loss.backward") == ("torch.autograd.grad", "loss.backward")


def test_named_apis_leaves_out_plain_words_library_names_errors_and_files() -> None:
    assert named_apis("how do I use an LSTM on GPUs in PyTorch with NumPy") == ()
    assert named_apis("RuntimeError: boom, see model.pt and e.g. train.py") == ()


def test_pasted_errors_are_recognised() -> None:
    assert is_pasted_error("RuntimeError: Function 'LogSoftmaxBackward0' returned nan values")
    assert is_pasted_error("Traceback (most recent call last):\n  File ...")
    assert not is_pasted_error("why do I get a runtime error in backward")


def test_an_entry_is_about_a_name_in_its_question_and_mentions_it_in_its_answer() -> None:
    stack = entry("What does `torch.stack` do?")
    join = entry("How do I join tensors?", answer="Use `torch.cat` or `torch.stack`.")
    assert about(stack, ["torch.stack"]) == 1 and about(join, ["torch.stack"]) == 0
    assert mentions(join, ["torch.stack"]) and not mentions(entry("Reshaping"), ["torch.stack"])
    # `x.view` is written `.view(` in code; a name's last part counts when it is an identifier.
    assert mentions(entry("Views", answer="y = t.view(-1)"), ["x.view"])
    assert about(entry("How does `F.scaled_dot_product_attention` work?"),
                 ["torch.nn.functional.scaled_dot_product_attention"]) == 1
    assert not mentions(entry("Training", answer="the model trains"), ["model.train"])


def test_the_entry_about_the_named_api_wins_within_the_margin() -> None:
    nearby = Hit(entry("How do I combine tensors?"), 0.55)
    exact = Hit(entry("What does `torch.stack` do?"), 0.49)
    far = Hit(entry("What does `torch.stack` return?"), 0.30)
    assert prefer_named([nearby, exact, far], ["torch.stack"])[0] is exact
    assert prefer_named([nearby, exact], ["torch.stack"], margin=0.05)[0] is nearby
    assert prefer_named([nearby, far], ["torch.stack"])[0] is nearby
    assert prefer_named([nearby, exact], [])[0] is nearby


def test_entries_that_never_write_the_name_or_the_question_lose_score() -> None:
    hit = Hit(entry("How do I time GPU code?", answer="Use torch.cuda.synchronize()."), 0.6)
    assert discounted(hit, ["triton.jit"], "how do I use triton.jit").score == 0.6 - UNNAMED_PENALTY
    assert discounted(hit, ["torch.cuda.synchronize"], "what is torch.cuda.synchronize").score == 0.6
    assert discounted(hit, ["logsoftmaxbackward0"], "RuntimeError: 'LogSoftmaxBackward0' nan").score == 0.6
    assert uncovered(hit, COVERAGE_FLOOR).score == 0.6
    assert uncovered(hit, 0.0).score < uncovered(hit, COVERAGE_FLOOR / 2).score < 0.6


def test_a_close_meaning_outweighs_missing_words() -> None:
    """The coverage penalty fades as the dense score rises through SURE_DENSE: a question that means an entry
    (high cosine) is not punished for words of its own, such as "total beginner here"."""
    low, high = SURE_DENSE
    ask = entry("What is PyTorch?")
    vague, middle, sure = (Hit(ask, 0.6, dense=d) for d in (low, (low + high) / 2, high))
    full = 0.6 - uncovered(vague, 0.0).score
    assert full == pytest.approx(UNCOVERED_PENALTY)
    assert 0.6 - uncovered(middle, 0.0).score == pytest.approx(full / 2)
    assert uncovered(sure, 0.0).score == 0.6


def test_without_an_entry_about_the_name_one_that_writes_it_wins_over_one_that_never_does() -> None:
    """Terse Q&A entries name APIs only in their code: `torch.from_numpy` goes to the entry whose code uses it,
    if it scores within UNNAMED_PENALTY of the best (which would lose that much for never writing the name)."""
    memory = Hit(entry("How do I optimise memory usage?", answer="Free what you no longer need."), 0.50)
    writes = Hit(entry("How do I convert a NumPy array?", answer="`t = torch.from_numpy(a)`"), 0.50 - UNNAMED_PENALTY)
    far = Hit(writes.entry, 0.49 - UNNAMED_PENALTY)
    assert prefer_named([memory, writes], ["torch.from_numpy"])[0] is writes
    assert prefer_named([memory, far], ["torch.from_numpy"])[0] is memory
    assert prefer_named([memory, writes], ["torch.stack"])[0] is memory
