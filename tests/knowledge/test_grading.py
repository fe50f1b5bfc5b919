"""Grading real answers: every accepted form, free text by meaning and key points, bad input refused."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from knowledge.grading import (
    MAX_ANSWER_CHARS,
    PASS_SCORE,
    Grade,
    InvalidAnswer,
    normalise_answer,
    stem,
)
from knowledge.quiz_bank import BankReport, Choice, QuizItem, default_quiz_paths, load_bank
from knowledge.quiz_kinds import grade

Encode = Callable[[list[str]], np.ndarray]


@pytest.fixture(scope="module")
def encode() -> Encode:
    from knowledge.embedder import get_embedder

    embedder = get_embedder()
    embedder.load()
    return embedder.encode


@pytest.fixture(scope="module")
def bank() -> BankReport:
    return load_bank(default_quiz_paths())


def _item(bank: BankReport, item_id: str) -> QuizItem:
    item = bank.get(item_id)
    assert item is not None, item_id
    return item


def _no_encoder(texts: list[str]) -> np.ndarray:
    raise AssertionError("choice and true/false grading must not encode")


# --- normalisation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, expected", [
    ("  Hello,   World!  ", "hello world"),
    ("PyTorch\u2019s tensor", "pytorchs tensor"),
    ("PyTorch's tensor", "pytorchs tensor"),
    ("\u201cquoted\u201d text", "quoted text"),
    ("\uff34\uff52\uff55\uff45", "true"),  # full-width letters
    ("ﬁne-tuning", "fine tuning"),  # ligature
    ("`torch.from_numpy(arr)`", "torch from_numpy arr"),
    ("B)", "b"),
    ("\tline\nbreak\u00a0space", "line break space"),
    ("", ""),
])
def test_normalise_answer(raw: str, expected: str) -> None:
    assert normalise_answer(raw) == expected


@pytest.mark.parametrize("a, b", [
    ("gradients", "gradient"), ("computing", "compute"), ("computation", "computes"),
    ("executes", "execution"), ("classes", "class"), ("libraries", "library"), ("tensors", "tensor"),
])
def test_light_stemming_joins_word_forms(a: str, b: str) -> None:
    assert stem(a) == stem(b)


# --- multiple choice ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", [
    "1", " 1 ", "1.", "1)", "a", "A", "A)", "(a)", "a.", "option a", "Answer: A", "choice 1",
    "`t.to('cuda')`", "t.to(\u2018cuda\u2019)", "T.TO('CUDA')", "a) t.to('cuda')",
])
def test_every_form_of_the_right_choice_is_accepted(bank: BankReport, answer: str) -> None:
    item = _item(bank, "tensor-move-to-gpu")
    assert item.correct_index == 0
    result = grade(item, answer, _no_encoder)
    assert result == Grade(True, 1.0, result.feedback, ())
    assert "Correct" in result.feedback and item.choices[0].why in result.feedback


@pytest.mark.parametrize("answer", ["3", "c", "C)", "t.requires_grad_()", "c) t.requires_grad_()"])
def test_wrong_choice_explains_both_sides(bank: BankReport, answer: str) -> None:
    item = _item(bank, "tensor-move-to-gpu")
    result = grade(item, answer, _no_encoder)
    assert not result.correct and result.score == 0.0 and result.missing_points == ()
    assert item.choices[2].why in result.feedback and item.choices[0].why in result.feedback
    assert "**C)**" in result.feedback and "**A)**" in result.feedback


def test_choice_text_is_matched_before_labels() -> None:
    # "Number of dimensions" would lose its first word if "number" were only taken for a label prefix.
    item = QuizItem(
        id="dims", entry="e", topic="tensors", kind="choice", prompt="What does .ndim give?",
        choices=(Choice("Number of dimensions", True, "Yes."),
                 Choice("Number of elements", False, "That is numel.")),
    )
    assert grade(item, "number of dimensions", _no_encoder).correct
    assert not grade(item, "Number of elements", _no_encoder).correct
    assert grade(item, "number 1", _no_encoder).correct


@pytest.mark.parametrize("answer", ["", "   ", "5", "0", "e", "z", "banana", "a) t.numpy()", "1 2"])
def test_unreadable_choice_is_invalid(bank: BankReport, answer: str) -> None:
    with pytest.raises(InvalidAnswer) as raised:
        grade(_item(bank, "tensor-move-to-gpu"), answer, _no_encoder)
    assert raised.value.reason


# --- true / false -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer, says_true", [
    ("true", True), ("True", True), ("TRUE.", True), ("t", True), ("T", True), ("yes", True), ("Yes!", True),
    ("y", True), (" Y ", True), ("\uff54\uff52\uff55\uff45", True),
    ("false", False), ("False", False), ("f", False), ("F", False), ("no", False), ("No.", False),
    ("n", False), ("N", False),
])
def test_true_false_answer_forms(bank: BankReport, answer: str, says_true: bool) -> None:
    true_item = _item(bank, "pytorch-is-open-source")
    false_item = _item(bank, "pytorch-tensors-cpu-only")
    assert true_item.answer is True and false_item.answer is False
    assert grade(true_item, answer, _no_encoder).correct is says_true
    assert grade(false_item, answer, _no_encoder).correct is not says_true


def test_true_false_feedback_gives_the_truth_and_why(bank: BankReport) -> None:
    item = _item(bank, "pytorch-tensors-cpu-only")
    right, wrong = grade(item, "false", _no_encoder), grade(item, "yes", _no_encoder)
    assert right.score == 1.0 and wrong.score == 0.0
    assert "It's false" in right.feedback and "It's false" in wrong.feedback
    assert item.explanation in wrong.feedback and "Not quite" in wrong.feedback


@pytest.mark.parametrize("answer", ["", "maybe", "truee", "yes no", "1", "not sure"])
def test_unreadable_true_false_is_invalid(bank: BankReport, answer: str) -> None:
    with pytest.raises(InvalidAnswer, match="true or false"):
        grade(_item(bank, "pytorch-is-open-source"), answer, _no_encoder)


# --- free text ----------------------------------------------------------------------------------------------

# (item, answer as a learner would write it)
RIGHT = [
    ("pytorch-explain-two-features",
     "It has tensors, which are like numpy arrays but can run on a GPU, and autograd which automatically "
     "works out gradients for backprop."),
    ("pytorch-explain-two-features", "1) GPU tensors  2) autograd"),
    ("pytorch-describe",
     "PyTorch is an open source deep learning framework made by Facebook's AI research lab."),
    ("pytorch-why-autodiff-matters",
     "Because backprop needs derivatives of the loss w.r.t. all parameters and autograd gives you those "
     "automatically, then the optimizer steps."),
    ("dynamic-graph-define",
     "PyTorch records the operations while your program executes them and throws the graph away after "
     "backward, recording a fresh one next time."),
    ("dynamic-graph-define", "its a graph thats made while the model runs, new one every forward pass"),
    ("dynamic-graph-advantages",
     "You can change the network depending on the input, step through it with a debugger, and it reads like "
     "plain Python."),
    ("dynamic-vs-static-graph",
     "Static graphs are defined and compiled first and then run; a dynamic graph is built as the code "
     "executes, so it can be different for each input."),
    ("tensor-vs-ndarray-two-differences", "tensors run on cuda devices and track gradients, numpy doesn't"),
    ("tensor-numpy-conversion", "numpy -> torch: torch.from_numpy(x). torch -> numpy: x.numpy()"),
    ("tensor-why-gpu-matters",
     "GPUs have thousands of cores that crunch numbers simultaneously, which cuts training time from weeks "
     "to hours."),
    ("leaf-tensor-define",
     "A leaf is a tensor you created yourself, not the output of an op, so its grad_fn is None. Non-leaf "
     "tensors have a grad_fn like AddBackward0 that says which operation produced them."),
    ("gradient-accumulation-how",
     "Scale each loss by 1/k, call backward on each mini batch so the grads accumulate, then after k batches "
     "call optimizer.step() and zero_grad()."),
    ("collate-fn-explain",
     "When the samples are different lengths and can't be stacked; the collate_fn pads them with "
     "pad_sequence and also returns the lengths."),
    ("training-loop-steps", "forward, compute loss, zero_grad, backward, optimizer.step()"),
    ("activation-checkpointing-explain",
     "It doesn't store the intermediate activations during the forward pass and recomputes them in backward, "
     "which costs an extra forward pass worth of compute."),
]

# (item, answer that leaves out one idea, the key point it leaves out)
PARTIAL = [
    ("pytorch-explain-two-features",
     "PyTorch gives you tensors, which are n-dimensional arrays you can do maths on, and automatic "
     "differentiation for training.", "runs on the GPU"),
    ("dynamic-graph-define", "The graph of operations is built at runtime while your Python executes.",
     "new graph for each input"),
    ("dynamic-graph-advantages",
     "It's flexible because the structure can change with the input, and you can debug it with print "
     "statements.", "readable Pythonic code"),
    ("tensor-vs-ndarray-two-differences", "Tensors can run on a GPU but numpy arrays only run on the CPU.",
     "automatic differentiation"),
    ("tensor-numpy-conversion", "You can call .numpy() on the tensor to get a numpy array.",
     "torch.from_numpy"),
    ("tensor-why-gpu-matters", "Because a GPU can do lots of calculations in parallel.", "faster training"),
    ("leaf-tensor-define", "A leaf tensor is one you create directly at the start of the graph, its grad_fn is None.",
     "grad_fn is the operation that produced it"),
    ("gradient-accumulation-how",
     "Call loss.backward() for each small batch without zeroing, and only step the optimizer after k batches.",
     "divide the loss by k"),
    ("collate-fn-explain", "If your sequences have variable length you write one that pads them to the longest.",
     "return the lengths or a mask"),
    ("training-loop-steps", "Run the model on the batch, compute the loss, call backward and then step the optimizer.",
     "zero the gradients"),
    ("eval-what-changes", "It turns off dropout.", "batch norm uses running statistics"),
]

WRONG = [
    ("pytorch-explain-two-features", "It has a static graph compiler and a built-in visualisation tool."),
    ("pytorch-describe", "PyTorch is a Python web framework for building REST APIs."),
    ("dynamic-graph-define", "It is a graph that is compiled once before training and never changes."),
    ("dynamic-vs-static-graph", "Static graphs run on the CPU and dynamic graphs run on the GPU."),
    ("tensor-vs-ndarray-two-differences",
     "Tensors can have more dimensions than numpy arrays, and they are immutable."),
    ("tensor-numpy-conversion", "You have to save the array to a CSV file and read it back in with pandas."),
    ("tensor-why-gpu-matters", "Because the GPU has more disk space to store the dataset."),
    ("pytorch-why-autodiff-matters", "I like to cook pasta on Sundays."),
    ("dynamic-graph-advantages", "Dogs are loyal animals."),
    ("leaf-tensor-define", "A leaf tensor is the final output of the network, the loss."),
    ("eval-what-changes", "It stops gradients being computed and freezes the weights."),
    ("activation-checkpointing-explain", "It saves the model to disk every few steps so you can resume."),
    ("same-device-causes", "The learning rate is too high."),
]


@pytest.mark.parametrize("item_id, answer", RIGHT)
def test_right_answer_in_own_words_passes(
    bank: BankReport, encode: Encode, item_id: str, answer: str
) -> None:
    result = grade(_item(bank, item_id), answer, encode)
    assert result.correct and result.score >= PASS_SCORE, result
    assert result.missing_points == () and "✅" in result.feedback


@pytest.mark.parametrize("item_id, answer, missing", PARTIAL)
def test_answer_missing_a_point_is_partial(
    bank: BankReport, encode: Encode, item_id: str, answer: str, missing: str
) -> None:
    item = _item(bank, item_id)
    result = grade(item, answer, encode)
    assert result.missing_points == (missing,), result
    assert 0.3 < result.score < 0.9
    assert f"- {missing}" in result.feedback and item.reference in result.feedback


def test_missing_half_the_points_fails_however_fluent(bank: BankReport, encode: Encode) -> None:
    result = grade(_item(bank, "tensor-vs-ndarray-two-differences"),
                   "Tensors can run on a GPU but numpy arrays only run on the CPU.", encode)
    assert not result.correct and result.score >= PASS_SCORE


def test_missing_a_minor_point_can_still_pass(bank: BankReport, encode: Encode) -> None:
    result = grade(_item(bank, "pytorch-describe"),
                   "It's a machine learning library from Facebook used for vision and NLP.", encode)
    assert result.correct and result.missing_points == ("open source",)
    assert "could say more" in result.feedback


@pytest.mark.parametrize("item_id, answer", WRONG)
def test_wrong_or_off_topic_answer_fails(bank: BankReport, encode: Encode, item_id: str, answer: str) -> None:
    result = grade(_item(bank, item_id), answer, encode)
    assert not result.correct and result.score < 0.4, result
    assert len(result.missing_points) >= len(_item(bank, item_id).key_points) - 1


def test_free_text_grading_is_deterministic_and_quote_blind(bank: BankReport, encode: Encode) -> None:
    item = _item(bank, "tensor-vs-ndarray-two-differences")
    straight = "A tensor can go on the GPU and it's tracked by autograd; NumPy's arrays can't do either."
    curly = straight.replace("'", "\u2019")
    first = grade(item, straight, encode)
    assert first == grade(item, straight, encode) == grade(item, curly, encode)
    assert first.correct


def test_feedback_is_chat_sized(bank: BankReport, encode: Encode) -> None:
    item = _item(bank, "dynamic-vs-static-graph")
    result = grade(item, "pizza " * 300, encode)
    assert len(result.feedback) <= 1_500 and not result.correct


@pytest.mark.parametrize("answer, reason", [
    ("", "empty"), ("   \n\t", "empty"), ("?!...", "empty"), ("x" * (MAX_ANSWER_CHARS + 1), "too long"),
])
def test_unusable_free_text_is_invalid(bank: BankReport, encode: Encode, answer: str, reason: str) -> None:
    with pytest.raises(InvalidAnswer) as raised:
        grade(_item(bank, "dynamic-graph-define"), answer, encode)
    assert reason in raised.value.reason and isinstance(raised.value, ValueError)


def test_longest_allowed_answer_is_graded(bank: BankReport, encode: Encode) -> None:
    answer = ("The graph is built on the fly as the code runs, a new one each forward pass. " * 40)
    result = grade(_item(bank, "dynamic-graph-define"), answer[:MAX_ANSWER_CHARS], encode)
    assert result.correct


# --- the whole bank -----------------------------------------------------------------------------------------


def test_every_choice_is_reachable_by_number_letter_and_text(bank: BankReport) -> None:
    for item in (item for item in bank.items if item.kind == "choice"):
        for index, choice in enumerate(item.choices):
            for answer in (str(index + 1), "abcdef"[index], choice.text):
                assert grade(item, answer, _no_encoder).correct is choice.correct, (item.id, answer)


def test_every_reference_answer_earns_full_marks(bank: BankReport, encode: Encode) -> None:
    for item in (item for item in bank.items if item.kind == "free_text"):
        result = grade(item, item.reference, encode)
        assert result.correct and result.missing_points == () and result.score >= 0.95, (item.id, result)
