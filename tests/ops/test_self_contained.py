"""The repository stands on its own: no tracked file reads, names or depends on a reference folder that some
machines keep beside the checkout. A fresh clone carries every payload, document and question file it needs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The folder's name is spelled `sh[a]red` and in two parts, so that a search for the word finds no reference
# to the folder in this file either.
FOLDER = "sh" "ared"
SIBLING = re.compile(
    r"\.\./sh[a]red\b"  # the relative path from the checkout
    r"|/work/sh[a]red\b"  # its absolute path on our machines
    r"|/\s*[\"']sh[a]red[\"']"  # a pathlib join with the name
    r"|\bsh[a]red/(?:payloads|eval|corpora|seed|notes|hooks|CONTRACT|DESIGN|STYLE|README)\b"  # its contents
    r"|\bSH[A]RED\b"  # a constant named after it
)
SKIPPED_DIRS = {".git", ".venv", "var", "node_modules", "__pycache__", ".ruff_cache", ".pytest_cache"}


def tracked_files() -> list[Path]:
    """The files git tracks; in a copy without git history, every file outside build and cache folders."""
    try:
        out = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, check=True).stdout
        return [REPO / name for name in out.decode().split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        return [p for p in REPO.rglob("*") if p.is_file() and not SKIPPED_DIRS & set(p.relative_to(REPO).parts)]


@pytest.mark.parametrize("line", [
    f'PAYLOADS = REPO.parent / "{FOLDER}" / "payloads"',
    f"CORPORA = Path(__file__).resolve().parents[3] / '{FOLDER}'",
    f"tuned on `../{FOLDER}/eval/dev_questions.tsv`",
    f"Shapes follow the examples in {FOLDER}/payloads.",
    f"from tests.conftest import REPO, {FOLDER.upper()}",
    f"cp /work/{FOLDER}/seed/what-is-pytorch.md knowledge/docs/",
])
def test_the_pattern_finds_each_way_of_naming_the_folder(line: str) -> None:
    assert SIBLING.search(line)


@pytest.mark.parametrize("line", [
    f"Gauges that describe {FOLDER} state (jobs, queue depth)",
    f'scope: Literal["user", "global", "{FOLDER}"] = "user"',
    f"def test_numpy_interop_memory_really_is_{FOLDER}() -> None:",
    f'"is_ext_{FOLDER}_channel": false,',
])
def test_the_pattern_leaves_the_word_alone(line: str) -> None:
    assert not SIBLING.search(line)


def test_no_tracked_file_refers_to_the_folder_beside_the_checkout() -> None:
    files = tracked_files()
    assert len(files) > 100, "the scan sees the repository"
    found = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # binary files; a deleted but still tracked file
        found += [f"{path.relative_to(REPO)}:{number}: {line.strip()}"
                  for number, line in enumerate(text.splitlines(), start=1) if SIBLING.search(line)]
    assert not found, "tracked files refer to the folder beside the checkout:\n" + "\n".join(found)
