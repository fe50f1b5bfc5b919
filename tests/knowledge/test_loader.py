"""The knowledge loader: torchtutor's own Q&A format, the foreign formats (as snippets and as whole documents of
our own in tests/data/loader), bad input; optionally, other people's documents named by TORCHTUTOR_EXTRA_CORPORA."""

from __future__ import annotations

import functools
import os
import re
import textwrap
import unicodedata
from pathlib import Path

import pytest

from knowledge.entries import slugify
from knowledge.loader import (
    MAX_ANSWER_CHARS,
    FileReport,
    load_entries,
    load_file,
    load_paths,
    parse_markdown,
)

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "knowledge" / "docs" / "what-is-pytorch.md"
FORMATS = REPO / "tests" / "data" / "loader"
# file -> (entries, warnings): one document of our own per shape the loader reads (see tests/data/README.md).
FORMATS_EXPECTED = {
    "own_format.md": (2, 0),
    "numbered_headings_br.md": (3, 0),
    "question_n_bold.md": (3, 1),
    "q_label_headings.md": (3, 0),
    "q_closing_hashes.md": (2, 2),
    "qa_bullets.md": (2, 1),
    "numbered_list.md": (3, 0),
    "paren_headings_links.md": (2, 1),
    "questions_only.md": (0, 3),
}
# Optional: a folder of other people's Q&A markdown, never part of the repository, checked only when named.
EXTRA_CORPORA = os.environ.get("TORCHTUTOR_EXTRA_CORPORA", "").strip()
EXTRA_FILES = sorted(p for p in Path(EXTRA_CORPORA).glob("*.md") if p.name != "SOURCES.md") if EXTRA_CORPORA else []
ANSWER_MARKER = re.compile(r"^(?:#+\s*)?(?:[-*]\s+)?[*_]*(?:answer|solution|a)[*_]*\s*:?[*_]*\s*$", re.I)
FENCE_LINE = re.compile(r"^\s*(```|~~~)")


@functools.cache
def document(path: Path) -> FileReport:
    """One format document, parsed once for all the tests that look at it."""
    return load_file(path)


def fixture(name: str) -> FileReport:
    return document(FORMATS / name)


def only(text: str) -> FileReport:
    """The report for a snippet, dedented so the tests can indent their markdown."""
    return parse_markdown(textwrap.dedent(text).lstrip("\n"), source="snippet.md")


def plain(text: str) -> str:
    """Text without emphasis, brackets or backticks, for comparing a question with its source line."""
    text = re.sub(r"\]\([^)\s]*\)", "", unicodedata.normalize("NFKC", text))
    return " ".join(re.sub(r"[*_`\[\]]", "", text).split())


def lines_outside_fences(answer: str) -> list[str]:
    """The lines of an answer that are not inside a code fence."""
    kept, inside = [], False
    for line in answer.split("\n"):
        if FENCE_LINE.match(line):
            inside = not inside
        elif not inside:
            kept.append(line)
    return kept


# --- torchtutor's own format ------------------------------------------------------------------------


def test_seed_document_gives_its_three_entries() -> None:
    report = load_file(SEED)
    assert [e.id for e in report.entries] == [
        "what-is-pytorch-and-what-are-its-two-main-features",
        "what-is-a-dynamic-computation-graph-and-why-is-it-an-advantage",
        "how-does-pytorch-s-tensor-object-differ-from-a-numpy-ndarray",
    ]
    assert report.warnings == []
    first, second, third = report.entries
    assert first.question == "What is PyTorch, and what are its two main features?"
    assert second.question == 'What is a "dynamic computation graph," and why is it an advantage?'
    assert third.question == "How does PyTorch's `Tensor` object differ from a NumPy `ndarray`?"
    assert [e.position for e in report.entries] == [5, 16, 28]
    assert first.answer.startswith("PyTorch is an open-source machine learning library")
    assert first.answer.endswith("training neural networks via backpropagation.")
    assert "**Answer:**" not in first.answer + second.answer + third.answer
    assert third.answer.endswith("leverage both libraries in their workflows.")
    assert all(e.source == str(SEED) for e in report.entries)
    assert all(e.id == slugify(e.question) for e in report.entries)


def test_metadata_lines_before_the_answer() -> None:
    report = only(
        """
        ## Autograd

        ### 4. How does autograd record operations?
        Also asked: what does requires_grad do | how are  gradients tracked |  | why is __init__ slow
        Tags: autograd, basics
        Tags: gradients
        Demo: autograd-graph
        Id: autograd-recording

        **Answer:**
        Every operation on a tensor with `requires_grad=True` adds a node.

        Tags: this line is part of the answer.
        """
    )
    (entry,) = report.entries
    assert entry.id == "autograd-recording"
    assert entry.question == "How does autograd record operations?"
    assert entry.aliases == (
        "what does requires_grad do",
        "how are gradients tracked",
        "why is __init__ slow",
    )
    assert entry.tags == ("autograd", "basics", "gradients")
    assert entry.demo == "autograd-graph"
    assert entry.texts()[0] == entry.question
    assert entry.answer.startswith("Every operation on a tensor with `requires_grad=True` adds a node.\n\n")
    assert entry.answer.endswith("\n\nTags: this line is part of the answer.")
    assert entry.position == 3


def test_unnumbered_question_heading_with_answer_marker() -> None:
    report = only(
        """
        ### Explain broadcasting

        **Answer:** Shapes are aligned from the right.
        Size-1 dimensions stretch.

        ### Why use `torch.no_grad()`?
        **Answer:**
        It saves memory.
        """
    )
    assert [(e.question, e.answer) for e in report.entries] == [
        ("Explain broadcasting", "Shapes are aligned from the right.\nSize-1 dimensions stretch."),
        ("Why use `torch.no_grad()`?", "It saves memory."),
    ]
    assert [e.demo for e in report.entries] == [None, None]
    assert [e.aliases for e in report.entries] == [(), ()]


def test_ids_stable_under_whitespace_edits() -> None:
    tidy = only(
        "### 1. What is a tensor?\n\n**Answer:**\nAn array.\n\n### 2. What is autograd?\n**Answer:** AD.\n"
    )
    messy = only(
        "\n\n###   1.   What  is a   tensor?   \n\n\n**Answer:**   \n\n  An array.  \n\n\n"
        "###  2.  What is\tautograd?  \n\n**Answer:**   AD.   \n\n"
    )
    assert [e.id for e in tidy.entries] == ["what-is-a-tensor", "what-is-autograd"]
    assert [e.id for e in messy.entries] == [e.id for e in tidy.entries]
    assert [e.question for e in messy.entries] == [e.question for e in tidy.entries]
    assert [e.answer for e in messy.entries] == ["An array.", "AD."]


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_windows_and_old_mac_line_endings(newline: str) -> None:
    text = "# T\n\n### 1. What is a tensor?\n\n**Answer:**\nAn array.\nOf numbers.\n"
    report = parse_markdown(text.replace("\n", newline))
    assert [(e.position, e.answer) for e in report.entries] == [(3, "An array.\nOf numbers.")]


def test_title_and_section_headings_are_not_questions() -> None:
    report = only(
        """
        # Interview questions: what is PyTorch?

        ## Tensors

        ### 1. What is a tensor?
        **Answer:** An array.

        ## 2. Autograd basics

        ### Q2.1: What is a leaf tensor?
        **Answer:** One created by the user.
        """
    )
    assert [e.question for e in report.entries] == ["What is a tensor?", "What is a leaf tensor?"]
    assert report.warnings == []


def test_answer_ends_at_the_next_heading_of_the_same_or_higher_level() -> None:
    report = only(
        """
        ### 1. What is a module?
        **Answer:**
        A container.
        #### Example
        Subclass it.
        ## Appendix
        Not part of any answer.
        """
    )
    (entry,) = report.entries
    assert entry.answer == "A container.\n#### Example\nSubclass it."


# --- code fences, comments, placeholders ------------------------------------------------------------


def test_code_fences_are_respected_and_kept_intact() -> None:
    fence = "```python\n# Define tensors\nx = 1\n### not a heading\n## nor this\n```"
    report = only(f"## 1. What does x hold?\n\n{fence}\nIt holds one.\n\n## 2. Next?\nYes.\n")
    assert [e.answer for e in report.entries] == [f"{fence}\nIt holds one.", "Yes."]


def test_tilde_fences_and_fences_inside_list_items() -> None:
    report = only(
        """
        ### 1. Show a tilde fence?
        **Answer:**
        ~~~
        # comment
        ~~~

        ## List questions

        9. **What is nine?**
           Nine.
           ```python
           # still code
        ## still code
           def f():
               return 9
           ```
        10. **What is ten?**
            Ten.
        """
    )
    assert [(e.position, e.question) for e in report.entries] == [
        (1, "Show a tilde fence?"),
        (9, "What is nine?"),
        (17, "What is ten?"),
    ]
    tilde, nine, ten = (e.answer for e in report.entries)
    assert tilde == "~~~\n# comment\n~~~"
    assert nine == "Nine.\n```python\n# still code\n## still code\ndef f():\n    return 9\n```"
    assert ten == "Ten."


def test_numbered_list_questions_dedent_their_answers() -> None:
    hard_break = "  "  # Markdown's two-space line break, as the list-style corpora write it
    report = only(
        f"""
        ## Tensor Operations

        ### Basic
        9. **How do you add tensors?**{hard_break}
           With `+`.{hard_break}
           ```python
           c = a + b
           ```

        10. **How do you multiply tensors?**

            With `*`:
            ```python
            def mul(a, b):
                return a * b
            ```

        #### Intermediate
        11. **Write a function that pads a tensor.**
            Use `F.pad`.
        12. **What does `view` return?** A view of the same storage.
        13. **Is this a question?**

        1. **Best optimizer**: Adam.
        """
    )
    assert [(e.position, e.question) for e in report.entries] == [
        (4, "How do you add tensors?"),
        (10, "How do you multiply tensors?"),
        (19, "Write a function that pads a tensor."),
        (21, "What does `view` return?"),
    ]
    add, mul, pad, view = (e.answer for e in report.entries)
    assert add == "With `+`.\n```python\nc = a + b\n```"
    assert mul == "With `*`:\n```python\ndef mul(a, b):\n    return a * b\n```"
    assert pad == "Use `F.pad`."
    assert view == "A view of the same storage."
    assert report.warnings == ["line 22: no answer for 'Is this a question?'; skipped"]


def test_html_comments_are_ignored() -> None:
    report = only(
        """
        <!-- SOURCE: somewhere | ### 9. Not a question? -->
        <!--
        ### 1. Hidden question?
        **Answer:** hidden
        -->
        ### 2. Shown question?
        **Answer:** shown <!-- editor's note --> here
        """
    )
    assert [(e.position, e.question, e.answer) for e in report.entries] == [
        (6, "Shown question?", "shown  here")
    ]


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "**Answer:**",
        "**Answer:** TBD",
        "**Answer:**\nComing soon!",
        "**Answer:** _[To be filled]_",
        "**Type:** 📝 Question\n\n---",
        "**Type:** 📝 Question\n**Access:** 🔒 Premium\n\n---",
        "---",
        "[[Answer]](https://example.com/answer)",
        "Answer:\n\n<br>",
    ],
)
def test_placeholder_answers_are_skipped_with_a_warning(answer: str) -> None:
    report = only(
        f"# Questions\n\n### 7. What is a placeholder?\n\n{answer}\n\n### 8. Real?\n**Answer:** Yes.\n"
    )
    assert [(e.question, e.answer) for e in report.entries] == [("Real?", "Yes.")]
    assert report.warnings == ["line 3: no answer for 'What is a placeholder?'; skipped"]


def test_short_real_answers_are_kept() -> None:
    report = only(
        "### 1. Is CUDA required?\n**Answer:** No.\n### 2. Does TBD mean anything?\nTBD means later.\n"
    )
    assert [e.answer for e in report.entries] == ["No.", "TBD means later."]


def test_table_of_contents_link_bullets_are_not_questions() -> None:
    report = only(
        """
        ## Questions ##
        * [Q1: What is a tensor?](#q1-what-is-a-tensor)
        * [Q2: What is autograd?](#q2-what-is-autograd)
        1. [What is a module?](#what-is-a-module)

        ## Questions & Answers ##

        ### Q1: What is a tensor? ###
        Answer: An array.
        """
    )
    assert [(e.question, e.answer) for e in report.entries] == [("What is a tensor?", "An array.")]


def test_long_answers_are_truncated_with_a_warning() -> None:
    code = "x = 1\n" * 5000
    report = only(f"### 1. How long can an answer be?\n**Answer:**\n```python\n{code}```\n### 2. Next?\nok\n")
    long, short = report.entries
    assert len(long.answer) <= MAX_ANSWER_CHARS
    assert long.answer.startswith("```python\nx = 1\n")
    assert sum(1 for line in long.answer.split("\n") if FENCE_LINE.match(line)) == 2
    assert short.answer == "ok"
    assert report.warnings == [
        f"line 1: answer of {len(code) + 13} characters truncated to {MAX_ANSWER_CHARS}"
    ]


# --- the foreign formats, as snippets -----------------------------------------------------------------


@pytest.mark.parametrize(
    "heading",
    [
        "### 1. What is a tensor?",
        "### What is a tensor?",
        "## 12. What is a _tensor_?",
        "### Q1.1: What is a tensor?",
        "### Q20: What is a **tensor**? ###",
        "##  Q35:  What is a  tensor?",
        "## Q23: What is a tensor? ## ",
        "## Question 3: What is a tensor?",
        "#### 4) What is a tensor? [[src](http://example.com/a_(b))]",
        "### 66) What is a tensor? [[src]](https://example.com/x#:~:text=a)",
        "### **5. What is a tensor?**",
        "### 𝐖𝐡𝐚𝐭 𝐢𝐬 𝐚 𝐭𝐞𝐧𝐬𝐨𝐫?",
    ],
)
def test_question_numbering_and_markup_are_removed(heading: str) -> None:
    report = only(f"{heading}\n\nAn n-dimensional array.\n")
    assert [(e.id, e.question, e.answer) for e in report.entries] == [
        ("what-is-a-tensor", "What is a tensor?", "An n-dimensional array.")
    ]


@pytest.mark.parametrize(
    ("heading", "question"),
    [
        ("### 1. What do `__init__` and __call__ do?", "What do `__init__` and __call__ do?"),
        ("### 2. What are *args and **kwargs?", "What are *args and **kwargs?"),
        ("### 3. Why is snake_case_name _slow_ and *odd*?", "Why is snake_case_name slow and odd?"),
        ("### 4. What does `a ** b` or __in bold__ mean?", "What does `a ** b` or in bold mean?"),
    ],
)
def test_code_like_markup_survives_question_cleaning(heading: str, question: str) -> None:
    report = only(f"{heading}\n**Answer:** It depends.\n")
    assert [e.question for e in report.entries] == [question]


@pytest.mark.parametrize("marker", ["### Answer", "**Answer:**", "**Answer:*", "### Solution", "Answer:"])
def test_question_n_headings_with_a_bold_question_line(marker: str) -> None:
    report = only(
        f"""
        # Coding questions

        ## Question 1

        **Implement a training loop.**

        {marker}

        ### Python Code Example
        ```python
        # Model
        model = make()
        ```

        ---

        ## Question 2

        **What is a DataLoader?**

        ### Answer
        An iterable over batches.
        """
    )
    assert [(e.position, e.question) for e in report.entries] == [
        (5, "Implement a training loop."),
        (19, "What is a DataLoader?"),
    ]
    assert report.entries[0].answer == "### Python Code Example\n```python\n# Model\nmodel = make()\n```"
    assert report.entries[1].answer == "An iterable over batches."


def test_question_n_heading_without_question_text_is_skipped() -> None:
    report = only("## Question 1\n\n### Answer\nOrphan.\n\n## Question 2\n\n**Kept?**\n\nYes.\n")
    assert [e.question for e in report.entries] == ["Kept?"]
    assert report.warnings == ["line 1: heading 'Question 1' has no question text; skipped"]


def test_answer_lines_inline_or_alone() -> None:
    report = only(
        """
        ### Q1: What is dropout? ###

        Answer: Zeroing activations at random.

        ### Q2: What is weight decay? ###

        Answer:

        An L2 penalty.

        ## Q3: What is attention? ##
        Answer:

        ##  Q4: What is BERT?
        Answer:
        """
    )
    assert [(e.question, e.answer) for e in report.entries] == [
        ("What is dropout?", "Zeroing activations at random."),
        ("What is weight decay?", "An L2 penalty."),
    ]
    assert report.warnings == [
        "line 11: no answer for 'What is attention?'; skipped",
        "line 14: no answer for 'What is BERT?'; skipped",
    ]


def test_answers_end_at_br_even_with_sub_headings() -> None:
    report = only(
        """
        #### You can also find all answers here

        <br>

        ## 1. What is _PyTorch_?

        A **framework**.

        ### Key Features

        #### Dynamic Graphs
        Built on the fly.

        <br>

        ## 2. Explain _tensors_.

        Arrays.
        <br>

        #### Explore more here
        """
    )
    assert [(e.question, e.answer) for e in report.entries] == [
        (
            "What is PyTorch?",
            "A **framework**.\n\n### Key Features\n\n#### Dynamic Graphs\nBuilt on the fly.",
        ),
        ("Explain tensors.", "Arrays."),
    ]


def test_q_and_a_bullets() -> None:
    report = only(
        """
        ## 1. Concepts

        *   **Q: Why use ReLU?**
            - *A:* It does not saturate for positive inputs.
              It is also cheap.
        *   **Q: What is a 1x1 convolution?**
            - **A:** A channel mixer.
        *   **Q: Unanswered?**

        ## Cheat Sheet
        1. **Best activation**: ReLU.
        """
    )
    assert [(e.question, e.answer) for e in report.entries] == [
        ("Why use ReLU?", "It does not saturate for positive inputs.\nIt is also cheap."),
        ("What is a 1x1 convolution?", "A channel mixer."),
    ]
    assert report.warnings == ["line 8: no answer for 'Unanswered?'; skipped"]


# --- duplicates, paths, bad input ---------------------------------------------------------------------


def test_duplicate_ids_in_one_document_get_suffixes() -> None:
    report = only(
        """
        ### 1. What is a tensor?
        **Answer:** one
        ### 2. What is a  tensor ?
        **Answer:** two
        ### 3. Other?
        Id: what-is-a-tensor
        **Answer:** three
        """
    )
    assert [e.id for e in report.entries] == ["what-is-a-tensor", "what-is-a-tensor-2", "what-is-a-tensor-3"]
    assert report.warnings == [
        "line 3: duplicate id 'what-is-a-tensor' renamed 'what-is-a-tensor-2'",
        "line 5: duplicate id 'what-is-a-tensor' renamed 'what-is-a-tensor-3'",
    ]


def test_duplicate_ids_across_files_warn_on_the_later_file(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a.md").write_text("### 1. What is a tensor?\n**Answer:** from a\n", encoding="utf-8")
    (tmp_path / "b" / "c.md").write_text(
        "### 1. What is a tensor?\n**Answer:** from c\n### 2. What is autograd?\n**Answer:** c2\n",
        encoding="utf-8",
    )
    (tmp_path / "b" / "notes.txt").write_text(
        "### 1. What is a tensor?\n**Answer:** ignored\n", encoding="utf-8"
    )
    reports = load_paths([tmp_path])
    assert [Path(r.path).relative_to(tmp_path).as_posix() for r in reports] == ["a.md", "b/c.md"]
    assert reports[0].warnings == []
    assert reports[1].warnings == ["line 1: duplicate id 'what-is-a-tensor' renamed 'what-is-a-tensor-2'"]
    entries = load_entries([tmp_path])
    assert [(e.id, e.answer) for e in entries] == [
        ("what-is-a-tensor", "from a"),
        ("what-is-a-tensor-2", "from c"),
        ("what-is-autograd", "c2"),
    ]
    assert [e.source for e in entries] == [str(tmp_path / "a.md"), *[str(tmp_path / "b" / "c.md")] * 2]


def test_load_paths_takes_files_once_and_refuses_missing_paths(tmp_path: Path) -> None:
    doc = tmp_path / "one.md"
    doc.write_text("### 1. Q?\n**Answer:** A.\n", encoding="utf-8")
    assert [r.path for r in load_paths([doc, tmp_path, str(doc)])] == [str(doc)]
    assert [r.path for r in load_paths(str(doc))] == [str(doc)]
    with pytest.raises(FileNotFoundError):
        load_paths([doc, tmp_path / "missing.md"])
    with pytest.raises(FileNotFoundError):
        load_entries([tmp_path / "missing-folder"])


def test_load_file_replaces_undecodable_bytes(tmp_path: Path) -> None:
    doc = tmp_path / "latin1.md"
    doc.write_bytes(
        "### 1. What is a caf\xe9 tensor?\r\n\r\n**Answer:** One with cr\xe8me on top.\r\n".encode("latin-1")
    )
    report = load_file(doc)
    assert [(e.question, e.answer, e.source) for e in report.entries] == [
        ("What is a caf\ufffd tensor?", "One with cr\ufffdme on top.", str(doc))
    ]


@pytest.mark.parametrize(
    ("text", "warning"),
    [
        ("", "empty document: no entries"),
        ("  \n\n\t\n", "empty document: no entries"),
        ("Just prose.\nNo questions here.\n", "no questions found: no entries"),
        ("# Title\n\n## Section\n\nProse.\n", "no questions found: no entries"),
        ("\x00\x01\x02\ufffd\ufffd### 1. Q?\n" * 50, "not a text document (binary data): no entries"),
    ],
)
def test_malformed_input_gives_no_entries_and_a_warning(text: str, warning: str) -> None:
    report = parse_markdown(text, source="bad.md")
    assert (report.path, report.entries, report.warnings) == ("bad.md", [], [warning])


def test_random_bytes_and_truncated_documents_never_raise(tmp_path: Path) -> None:
    junk = tmp_path / "junk.md"
    junk.write_bytes(bytes((i * 97 + 13) % 256 for i in range(4096)))
    assert load_file(junk).entries == []
    assert load_file(junk).warnings
    seed = SEED.read_text(encoding="utf-8")
    for cut in range(0, len(seed), 97):
        report = parse_markdown(seed[:cut] + "\n```\n### 9. Unclosed?\n" + seed[cut:])
        assert all(e.answer and e.question for e in report.entries)


def test_run_on_headings_are_skipped_quickly() -> None:
    report = only("### 1. " + "*a _b " * 50_000 + "?\n**Answer:** x\n### 2. Fine?\n**Answer:** y\n")
    assert [e.answer for e in report.entries] == ["y"]
    assert report.warnings == ["line 1: question of 300004 characters; skipped"]


def test_unclosed_fence_is_reported() -> None:
    report = only("### 1. Q?\n**Answer:**\n```\ncode\n")
    assert [e.answer for e in report.entries] == ["```\ncode"]
    assert report.warnings == ["line 3: code fence never closed"]


# --- whole documents, one per format ---------------------------------------------------------------


def test_every_format_document_has_expectations() -> None:
    assert {p.name for p in FORMATS.glob("*.md")} == set(FORMATS_EXPECTED)


@pytest.mark.parametrize(("name", "expected"), sorted(FORMATS_EXPECTED.items()))
def test_format_document_counts(name: str, expected: tuple[int, int]) -> None:
    report = fixture(name)
    assert (len(report.entries), len(report.warnings)) == expected
    assert all(re.match(r"line \d+: ", w) for w in report.warnings)


@pytest.mark.parametrize("path", [FORMATS / name for name in sorted(FORMATS_EXPECTED)] + EXTRA_FILES,
                         ids=lambda path: f"{path.parent.name}/{path.name}")
def test_document_entries_are_clean(path: Path) -> None:
    report = document(path)
    text = path.read_text(encoding="utf-8")
    lines, explicit_ids = text.split("\n"), set(re.findall(r"^Id:\s*(\S+)\s*$", text, re.M))
    positions = [e.position for e in report.entries]
    assert positions == sorted(set(positions))
    assert len({e.id for e in report.entries}) == len(report.entries)
    for index, entry in enumerate(report.entries):
        following = report.entries[index + 1] if index + 1 < len(report.entries) else None
        assert entry.source == str(path)
        assert entry.question and entry.answer.strip() == entry.answer and entry.answer
        assert not entry.question[0].isdigit() and not entry.question.startswith(("**", "#", "Q", "*"))
        assert not re.search(r"\]\(|\[\[|#\s*$|\*\*", entry.question)
        assert not re.search("[\U0001d400-\U0001d7ff]", entry.question)  # math-bold letters normalised
        assert plain(entry.question)[:20] in plain(lines[entry.position - 1])
        assert entry.id in explicit_ids or entry.id == slugify(entry.question) or entry.id.startswith(
            slugify(entry.question) + "-")
        assert not ANSWER_MARKER.match(entry.answer.split("\n")[0])
        assert "<br>" not in entry.answer and "<!--" not in entry.answer
        assert sum(1 for line in entry.answer.split("\n") if FENCE_LINE.match(line)) % 2 == 0
        if following is not None:
            assert plain(following.question)[:40] not in plain(entry.answer)


def test_own_format_document_keeps_its_metadata() -> None:
    first, second = fixture("own_format.md").entries
    assert (first.id, first.tags, first.demo) == ("zero-grad-every-step", ("training", "autograd"), "train-tiny")
    assert first.aliases == ("gradients keep growing", "zero_grad before or after backward")
    assert first.answer.endswith("```python\noptimizer.zero_grad()\nloss.backward()\noptimizer.step()\n```")
    assert second.id == "what-does-a-learning-rate-of-zero-do" and second.aliases == ()


def test_questions_only_document_gives_nothing_and_says_why() -> None:
    report = fixture("questions_only.md")
    assert report.entries == []
    assert report.warnings == ["line 3: no answer for 'What is a tensor?'; skipped",
                               "line 9: no answer for 'How does autograd work?'; skipped",
                               "line 15: no answer for 'When should I use a GPU?'; skipped"]


def test_format_document_structures_survive() -> None:
    graph, broadcasting, _ = fixture("numbered_headings_br.md").entries
    assert (graph.question, broadcasting.question) == ("What is a computation graph?", "Explain broadcasting.")
    assert "\n### Why it matters\n\n#### Backward pass\n" in graph.answer and graph.answer.endswith("```")
    loss, count, stall = fixture("question_n_bold.md").entries
    assert "| one label per sample | `nn.CrossEntropyLoss` |" in loss.answer, "a table in an answer stays whole"
    assert count.answer.startswith("```python\ndef count(model):\n    # Only the trainable ones")
    assert stall.question == "Why does validation accuracy stall while training accuracy climbs?"
    assert [e.question for e in fixture("q_label_headings.md").entries] == [
        "What is an activation function for?", "Why are weights not all started at zero?", "What is an epoch?"]
    assert [e.question for e in fixture("q_closing_hashes.md").entries] == [
        "What is dropout?", "What is batch normalisation?"]
    assert [e.answer for e in fixture("qa_bullets.md").entries] == [
        "To mix channels without looking at neighbours.\nIt is also a cheap way to change the channel count.",
        "The largest value in each window."]
    zeros, _, as_tensor = fixture("numbered_list.md").entries
    assert zeros.answer == "Call `torch.zeros` with the shape.\n```python\nimport torch\nx = torch.zeros(2, 3)\n```"
    assert as_tensor.answer == "The first always copies; the second reuses memory when it can."
    assert [e.question for e in fixture("paren_headings_links.md").entries] == [
        "What is the bias-variance trade-off?", "Why normalise inputs?"]


def test_format_folder_loads_with_ids_unique_across_files() -> None:
    entries = load_entries([FORMATS])
    assert len(entries) == sum(count for count, _ in FORMATS_EXPECTED.values())
    assert len({e.id for e in entries}) == len(entries)


if EXTRA_CORPORA:  # defined only when asked for, so a plain run has nothing to skip

    def test_extra_corpora_folder_loads_with_ids_unique_across_files() -> None:
        assert EXTRA_FILES, f"TORCHTUTOR_EXTRA_CORPORA={EXTRA_CORPORA} holds no .md files"
        entries = load_entries(EXTRA_FILES)
        assert entries and len({e.id for e in entries}) == len(entries)
