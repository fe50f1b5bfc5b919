"""The rooms of bot/ import one way: the core knows no adapter or web page, adapters know no web page."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Each room, and the rooms it must never import (directly or through a module it imports).
FORBIDDEN = {
    "bot.core": ("bot.adapters", "bot.web", "bot.cli"),
    "bot.adapters": ("bot.web", "bot.cli"),
}


def imports_of(package: str) -> set[tuple[str, str]]:
    """(module file, imported module) for every import statement in the package's files."""
    found = set()
    for path in (ROOT / package.replace(".", "/")).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((str(path.relative_to(ROOT)), node.module))
            elif isinstance(node, ast.Import):
                found.update((str(path.relative_to(ROOT)), alias.name) for alias in node.names)
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_room_imports_a_room_above_it(package: str) -> None:
    wrong = sorted((where, name) for where, name in imports_of(package)
                   if any(name == banned or name.startswith(banned + ".") for banned in FORBIDDEN[package]))
    assert wrong == []


@pytest.mark.parametrize("module", ["bot.adapters.playground", "bot.web.playground", "bot.web.app",
                                    "bot.adapters.discord", "bot.adapters.slack", "bot.adapters.console"])
def test_each_face_imports_on_its_own(module: str) -> None:
    """Imported first in a fresh interpreter, so a cycle between two packages fails here, not at random."""
    done = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr.splitlines()[-1:]
