"""The README's screenshots: made by scripts/screenshots.py, small, shown in the README; its seeding writes the rows
the pictured screens show (questions answered and declined over several days, quiz answers, a finished demo job)."""

from __future__ import annotations

import importlib.util
import re
import sqlite3
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "docs" / "screenshots"
MAX_BYTES = 200_000


def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("screenshots", REPO / "scripts" / "screenshots.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_shows_every_screenshot_the_script_makes() -> None:
    made = set(re.findall(r'out / "([\w-]+\.png)"', (REPO / "scripts" / "screenshots.py").read_text()))
    assert made == {"playground.png", "dashboard.png"}
    assert {p.name for p in SHOTS.glob("*.png")} == made, "run `make screenshots`, commit what it wrote"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in made:
        assert re.search(rf"!\[[^\]]+\]\(docs/screenshots/{re.escape(name)}\)", readme), f"README lacks {name}"
        assert (SHOTS / name).stat().st_size <= MAX_BYTES
        with Image.open(SHOTS / name) as image:
            assert image.format == "PNG" and image.size[0] == script().VIEWPORT["width"]


@pytest.mark.slow
def test_seeding_writes_what_the_screens_show(tmp_path: Path) -> None:
    screenshots = script()
    env = screenshots.settings_for(tmp_path)
    counts = screenshots.seed(env)
    assert set(counts) == set(screenshots.CONVERSATIONS) and all(n > 0 for n in counts.values())

    with sqlite3.connect(tmp_path / "torchtutor.db") as db:
        statuses = dict(db.execute("SELECT status, COUNT(*) FROM questions GROUP BY status").fetchall())
        days = db.execute("SELECT COUNT(DISTINCT date(created_at)) FROM questions").fetchone()[0]
        answers = db.execute("SELECT COUNT(*), SUM(correct) FROM quiz_attempts "
                             "WHERE answered_at IS NOT NULL").fetchone()
        jobs = db.execute("SELECT demo, status FROM jobs").fetchall()
        images = db.execute("SELECT COUNT(*) FROM job_images").fetchone()[0]
        votes = {v for (v,) in db.execute("SELECT vote FROM feedback")}
        admin = db.execute("SELECT role FROM accounts WHERE username = ?", (screenshots.ADMIN,)).fetchone()
    assert statuses.get("answered", 0) >= 10 and statuses.get("no_match", 0) >= 1
    assert days >= 5, "spread over days: the per-day charts have a shape"
    assert answers[0] >= 10 and 0 < answers[1] < answers[0], "quiz answers, some right and some wrong"
    assert jobs == [("train-tiny", "succeeded")] and images == 1
    assert votes == {1, -1} and admin == ("admin",)
