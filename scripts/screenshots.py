"""The README's screenshots (docs/screenshots/*.png), made from a seeded demo database so that they stay true.

    make screenshots            # or: .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

1. seed: a fresh SQLite database in a temporary folder, migrated, with an admin account and a few conversations
   typed through the terminal adapter (answered and unanswered questions, feedback, two quizzes, a demo job), so
   every row is one the bot itself wrote;
2. serve it with `torchtutor serve` and drive Debian's Chromium with Playwright (as tests/web/test_browser.py does):
   the playground after an /ask, and the dashboard logged in (`apt-get install chromium fonts-noto-color-emoji`:
   without an emoji font the buttons' emoji show as boxes);
3. save the PNGs reduced to a 256-colour palette (a few dozen KB each).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
ADMIN, PASSWORD = "ada", "screenshot-password"
VIEWPORT = {"width": 1200, "height": 900}
PLAYGROUND_QUESTION = "How is a PyTorch tensor different from a numpy array?"

# Who says what while seeding: each person's lines, typed in the terminal chat. `!quiz` answers a whole quiz.
CONVERSATIONS = {
    "ada": ["/ask How is a PyTorch tensor different from a numpy array?", "!feedback up",
            "/ask what is a dynamic computation graph?", "/ask how do I bake sourdough bread?",
            "/ask what does broadcasting do?", "/ask how do I freeze layers for transfer learning?", "!quiz"],
    "grace": ["/ask how do I move a tensor to the GPU?", "!feedback up", "/ask how do I save and load a model?",
              "/ask what is a DataLoader for?", "/ask when should I call model.eval()?", "!feedback up",
              "!quiz", "/demo train-tiny"],
    "alan": ["/ask why is my loss nan?", "!feedback down", "/ask what does zero_grad do?",
             "/ask how do I pick a learning rate?", "/ask what is the capital of France?"],
    "linus": ["/ask what is autograd?", "/ask how do I use mixed precision?", "!feedback up",
              "/ask how do I handle class imbalance?", "!quiz"],
}
SPREAD_DAYS = 12  # the seeded rows are moved back over this many days, so the per-day charts have a shape
QUIZ_QUESTIONS = 5


def settings_for(folder: Path) -> dict[str, str]:
    """The environment of the demo database (its model cache stays the repository's, so encodings are reused)."""
    return {"TORCHTUTOR_DATABASE_URL": f"sqlite:///{folder}/torchtutor.db", "TORCHTUTOR_ENVIRONMENT": "test",
            "TORCHTUTOR_SECRET_KEY": "screenshots-only-secret-key"}


def seed(env: dict[str, str]) -> dict[str, int]:
    """Migrate the database `env` names, add the admin, type CONVERSATIONS and spread them over SPREAD_DAYS days;
    the number of messages each person got."""
    from bot.config import Settings
    from bot.core.admin.accounts import create_account
    from bot.db.migrate import upgrade
    from bot.runtime import build_runtime

    settings = Settings(**{k.removeprefix("TORCHTUTOR_").lower(): v for k, v in env.items()})
    upgrade(settings.database_url)
    runtime = build_runtime(settings)
    runtime.start()
    runtime.start_workers()
    try:
        with runtime.database.transaction() as session:
            create_account(session=session, username=ADMIN, password=PASSWORD, role="admin")
        counts = {person: asyncio.run(_converse(runtime, person, lines)) for person, lines in CONVERSATIONS.items()}
    finally:
        runtime.close()
    _spread_over_days(settings.database_url.removeprefix("sqlite:///"))
    return counts


def _spread_over_days(path: str) -> None:
    """Questions and quiz answers moved back by 0 to SPREAD_DAYS - 1 days (demo data only, hence plain SQLite)."""
    with sqlite3.connect(path) as db:
        for table, column in (("questions", "created_at"), ("quiz_attempts", "answered_at")):
            db.execute(f"UPDATE {table} SET {column} = datetime({column}, '-' || ((id * 5) % ?) || ' days') "
                       f"WHERE {column} IS NOT NULL", (SPREAD_DAYS,))


async def _converse(runtime, person: str, lines: list[str]) -> int:  # type: ignore[no-untyped-def]
    from bot.adapters.console import ConsoleChat
    from bot.core.conversation import Person

    out = io.StringIO()
    chat = ConsoleChat(runtime.tutor, Person(person, person.title()), "terminal", out=out,
                       image_dir=Path(tempfile.gettempdir()) / "torchtutor-screenshots")

    def messages() -> list[dict]:  # type: ignore[type-arg]
        return [json.loads(line) for line in out.getvalue().splitlines()]

    async def say(line: str) -> None:
        await chat.feed(line)
        await chat.drain()

    for line in lines:
        if line.startswith("!feedback"):
            vote = line.split()[1]
            await say(f"!click {_button(messages(), f'feedback:{vote}:')}")
        elif line == "!quiz":
            await say("/quiz")
            for n in range(QUIZ_QUESTIONS):  # answers the options in turn: some right, some wrong
                answer = [b for b in messages()[-1]["buttons"] if b["id"].startswith("quiz:answer:")]
                if answer:
                    await say(f"!click {answer[n % len(answer)]['id']}")
                else:  # a free-text question: every quiz draws its items anew, so some quizzes have them
                    await say("!answer It records the operations so that backward() can compute the gradients.")
                more = [b["id"] for b in messages()[-1]["buttons"] if b["id"].startswith("quiz:next")]
                if more:
                    await say(f"!click {more[0]}")
        else:
            await say(line)
    return len(messages())


def _button(messages: list[dict], prefix: str) -> str:  # type: ignore[type-arg]
    for message in reversed(messages):
        for button in message["buttons"]:
            if button["id"].startswith(prefix):
                return str(button["id"])
    raise SystemExit(f"seeding: no {prefix}... button was shown")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[str]:
    """`torchtutor serve` over the demo database until the block ends."""
    import httpx

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "bot.cli.main", "serve", "--port", str(port)],
                                   env={**os.environ, **env, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL,
                                   stderr=log_file)
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None:
                raise SystemExit(f"torchtutor serve exited with {process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"torchtutor serve did not become healthy:\n{log.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def shoot(url: str, out: Path) -> list[Path]:
    """The playground after an /ask and the dashboard logged in, as PNGs in `out`."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    out.mkdir(parents=True, exist_ok=True)
    shots = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_context(viewport=VIEWPORT).new_page()
        page.set_default_timeout(60_000)

        page.goto(f"{url}/playground")
        page.fill("#input", f"/ask {PLAYGROUND_QUESTION}")
        page.press("#input", "Enter")
        page.locator("li.msg.bot[data-kind=answer]").last.wait_for()
        shots.append(_save(page, out / "playground.png"))

        page.goto(f"{url}/login")
        page.fill("input[name=username]", ADMIN)
        page.fill("input[name=password]", PASSWORD)
        with page.expect_navigation():
            page.click("form button[type=submit]")
        page.wait_for_load_state("networkidle")  # the charts draw from the stats API
        shots.append(_save(page, out / "dashboard.png"))
        browser.close()
    return shots


def _save(page, path: Path) -> Path:  # type: ignore[no-untyped-def]
    from PIL import Image

    image = Image.open(io.BytesIO(page.screenshot()))
    image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots", help="where the PNGs go")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="torchtutor-screenshots-") as folder:
        env = settings_for(Path(folder))
        counts = seed(env)
        print(f"seeded {sum(counts.values())} messages for {', '.join(counts)}", flush=True)
        with serving(env, Path(folder) / "serve.log") as url:
            for path in shoot(url, args.out):
                print(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
