"""The README documents what the code reads: every setting has a row in its Configuration table."""

from __future__ import annotations

import re
from pathlib import Path

from bot.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def configuration_table() -> str:
    """The README's "## Configuration" section, up to the next section."""
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Configuration\n")
    return text[start : text.index("\n## ", start + 1)]


def test_every_setting_has_a_row_in_the_configuration_table() -> None:
    rows = [line for line in configuration_table().splitlines() if line.startswith("| `TORCHTUTOR_")]
    documented = {name for row in rows for name in re.findall(r"`(TORCHTUTOR_[A-Z0-9_]+)`", row.split(" | ")[0])}
    settings = {f"TORCHTUTOR_{name.upper()}" for name in Settings.model_fields}
    assert sorted(settings - documented) == [], "settings the README does not document"
    assert sorted(documented - settings) == [], "README rows for settings the code does not read"
