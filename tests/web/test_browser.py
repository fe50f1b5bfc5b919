"""The dashboard and the playground in Debian's Chromium, driven by Playwright against `torchtutor serve`.

Locally these skip when /usr/bin/chromium is missing; under CI (.ci/run installs it) they fail instead.
Set TORCHTUTOR_TEST_SCREENSHOTS=DIR to keep screenshots of the pages.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import served, wait_until
from tests.services import in_ci

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
ADMIN, PASSWORD = "ada", "browser-test-password"
TENSOR = "How is a PyTorch tensor different from a numpy array?"
GRAPH = "what is a dynamic computation graph?"
BREAD = "how do I bake sourdough bread?"
SHOTS = os.environ.get("TORCHTUTOR_TEST_SCREENSHOTS")


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if in_ci():
        pytest.fail(f"{CHROMIUM} is missing; .ci/run installs Debian's chromium for the browser tests", pytrace=False)
    pytest.skip(f"{CHROMIUM} is missing; `apt-get install -y chromium` to run the browser tests")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, browser: object) -> Iterator[str]:
    """A migrated database with an admin made by `torchtutor admin create-user`, served by `torchtutor serve`."""
    from tests.conftest import cli

    folder = tmp_path_factory.mktemp("browser")
    env = {"TORCHTUTOR_DATABASE_URL": f"sqlite:///{folder}/torchtutor.db",
           "TORCHTUTOR_CACHE_DIR": str(folder / "cache"), "TORCHTUTOR_ENVIRONMENT": "test",
           "TORCHTUTOR_RUN_ENABLED": "true"}  # still off in each channel until an admin turns it on
    assert cli("migrate", env=env).returncode == 0
    created = cli("admin", "create-user", "--username", ADMIN, "--role", "admin", "--password-stdin",
                  input=PASSWORD + "\n", env=env)
    assert created.returncode == 0, created.stderr
    with served(env=env) as url:
        yield url


@pytest.fixture
def page(browser, server):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1360, "height": 900}, accept_downloads=True)
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    # A 401 or 429 page is expected here; any other console error (a script failing, a chart not loading) is not.
    page.on("console", lambda m: errors.append(m.text) if m.type == "error"
            and not m.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert not errors, f"the browser reported errors: {errors}"


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def _login(page, url: str, username: str = ADMIN, password: str = PASSWORD) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("form button[type=submit]")


def _chat(page, text: str):  # type: ignore[no-untyped-def]
    """Type a line in the playground and wait for the bot's newest message."""
    messages = page.locator("li.msg.bot[data-message-id]")
    before = messages.count()
    page.fill("#input", text)
    page.press("#input", "Enter")
    messages.nth(before).wait_for()  # (no wait_for_function: the page's CSP forbids evaluating strings)
    return messages.nth(before)


def test_a_wrong_password_is_refused_and_many_are_rate_limited(page, server) -> None:  # type: ignore[no-untyped-def]
    _login(page, server, password="not the password")
    assert page.locator(".alert.error").inner_text() == "Wrong username or password."
    assert "/login" in page.url
    for _ in range(5):  # the limit: five failures per name within 15 minutes
        _login(page, server, username="eve", password="guess")
        assert page.locator(".alert.error").inner_text() == "Wrong username or password."
    _login(page, server, username="eve", password="guess")
    assert "Too many failed logins" in page.locator(".alert.error").inner_text()
    response = page.request.get(f"{server}/dashboard", max_redirects=0)
    assert response.status == 303


def test_questions_asked_in_the_playground_show_in_the_dashboard_charts(page, server) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server}/playground")
    answer = _chat(page, f"/ask {TENSOR}")
    assert "Source: how-does-pytorch-s-tensor-object-differ-from-a-numpy-ndarray" in answer.inner_text()
    link = answer.locator(".docs a", has_text="torch.from_numpy")
    assert link.get_attribute("href") == "https://docs.pytorch.org/docs/stable/generated/torch.from_numpy.html"
    assert link.get_attribute("rel") == "noopener noreferrer" and "Docs: torch.Tensor, " in answer.inner_text()
    assert answer.locator(".body strong", has_text="GPU Acceleration").count() == 1
    answer.locator("button", has_text="Helpful").first.click()
    thanks = page.locator("li.msg.bot.ephemeral").last
    thanks.wait_for()
    assert "Thanks" in thanks.inner_text()
    assert _chat(page, GRAPH).get_attribute("data-kind") == "answer"
    assert _chat(page, BREAD).get_attribute("data-kind") == "no_match"
    _shot(page, "playground")

    _login(page, server)
    page.wait_for_url(f"{server}/dashboard")
    assert page.locator('[data-kpi="asked"]').inner_text() == "3"
    assert page.locator('[data-kpi="answered_share"]').inner_text() == "67%"
    per_day = page.locator("#questions-per-day figure.chart.drawn[data-kind=bars]")
    per_day.wait_for()
    bars = per_day.locator("svg rect.bar")
    values = [float(bars.nth(i).get_attribute("data-value")) for i in range(bars.count())]
    assert sum(values) == 3 and sorted(values) == [1, 2]  # today: 2 answered stacked on 1 declined
    share = page.locator("#questions-per-day figure.chart.drawn[data-kind=line] svg circle.point")
    assert share.count() == 1 and share.first.get_attribute("data-value") == "0.667"
    page.locator("#top-entries figure.chart.drawn svg rect.bar").first.wait_for()
    _shot(page, "dashboard")


def test_a_table_exports_as_csv(page, server) -> None:  # type: ignore[no-untyped-def]
    _login(page, server)
    page.wait_for_url(f"{server}/dashboard")
    with page.expect_download() as download:
        page.locator("#people a", has_text="Export CSV").click()
    path = download.value.path()
    rows = list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8"))))
    assert download.value.suggested_filename.startswith("torchtutor-people-")
    assert len(rows) == 1 and rows[0]["platform"] == "web" and rows[0]["asked"] == "3"
    assert rows[0]["person"].startswith("guest-")


def test_a_gap_becomes_an_entry_that_the_playground_answers_from(page, server) -> None:  # type: ignore[no-untyped-def]
    _login(page, server)
    page.goto(f"{server}/dashboard/gaps")
    row = page.locator("table[data-table=gaps] tbody tr", has_text=BREAD)
    row.locator("a", has_text="Add entry").click()
    assert page.locator("input[name=question]").input_value() == BREAD
    page.fill("textarea[name=answer]", "PyTorch cannot bake, but `torch.randn` makes a fine **starter**.")
    page.fill("textarea[name=aliases]", "how to bake bread")
    page.click("form.entry-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/dashboard/knowledge/how-do-i-bake-sourdough-bread.*"))
    assert "Saved." in page.locator(".alert.ok").inner_text()
    page.locator('dd[data-live="true"]').wait_for()  # the page follows the reindex until the entry is live
    _shot(page, "entry")
    page.goto(f"{server}/playground")
    answer = _chat(page, "/ask how can I bake sourdough bread?")
    assert answer.get_attribute("data-kind") == "answer"
    assert "Source: how-do-i-bake-sourdough-bread (" in answer.inner_text()
    assert answer.locator(".body code", has_text="torch.randn").count() == 1


# -- A real demo job: the local worker pool that `torchtutor serve` starts runs it --------------------------------

def test_a_long_run_output_downloads_whole_from_its_message(page, server) -> None:  # type: ignore[no-untyped-def]
    import shutil

    if shutil.which("bwrap") is None:
        if in_ci():
            pytest.fail("bubblewrap is not installed; CI needs it (see .ci/run)", pytrace=False)
        pytest.skip("bubblewrap is not installed")
    _login(page, server)
    page.goto(f"{server}/playground")
    assert "on" in _chat(page, "/run on").inner_text()
    message = _chat(page, "/run for n in range(400): print('line', n)")
    wait_until(lambda: message.get_attribute("data-kind") == "job_result", timeout=120, what="the run's result")
    assert "line 0" in message.locator(".body").inner_text() and "line 399" not in message.inner_text()
    link = message.locator(".files a")
    assert link.count() == 1 and "full output" in link.inner_text()
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "output.txt"
    assert Path(download.value.path()).read_text() == "".join(f"line {n}\n" for n in range(400))


def test_a_demo_progress_bar_moves_to_done_in_place(page, server) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server}/playground")
    page.fill("#input", "/demo backward-pass")
    with page.expect_response(lambda r: r.url.endswith("/playground/send"), timeout=120_000) as sent:
        page.press("#input", "Enter")
        message = page.locator("li.msg.bot[data-kind]").last
        message.locator("progress").wait_for()
        wait_until(lambda: message.get_attribute("data-kind") == "job_result", timeout=120, what="the demo's result")
    assert page.locator("li.msg.bot[data-kind]").count() == 1  # edits replaced the message in place
    assert message.locator("progress").get_attribute("value") == "100"
    assert message.locator(".progress-label").inner_text() == "100%"
    body = message.locator(".body")
    assert "The code that ran" in body.inner_text() and body.locator("code", has_text="backward").count() >= 1
    # The stream edited that one message from queued (0) up to done (1), never going down. Chromium sometimes
    # drops a finished event stream's body (Network.getResponseBody: "No data found"); then only the page is checked.
    from playwright.sync_api import Error as PlaywrightError

    try:
        stream = sent.value.text()
    except PlaywrightError:
        return
    values = [float(v) for v in re.findall(r'"progress": ([0-9.]+)', stream)]
    assert values[0] == 0.0 and values[-1] == 1.0 and values == sorted(values) and len(values) >= 2, values
    assert len(set(re.findall(r'"message_id": "([^"]+)"', stream))) == 1


# -- A personal quiz taken in the playground, then its attempts in the dashboard's quiz charts ----------------------

def _press(page, button):  # type: ignore[no-untyped-def]
    """Click a message's button and wait for the bot's next message."""
    messages = page.locator("li.msg.bot[data-message-id]")
    before = messages.count()
    button.click()
    messages.nth(before).wait_for()
    return messages.nth(before)


def test_a_quiz_taken_in_the_playground_shows_in_the_attempts_chart(page, server) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{server}/playground")
    question = _chat(page, "/quiz")
    assert question.get_attribute("data-kind") == "quiz_question", question.inner_text()
    total = int(re.search(r"Question 1 of (\d+)", question.inner_text()).group(1))
    for slot in range(total):
        assert question.get_attribute("data-kind") == "quiz_question", question.inner_text()
        assert f"Question {slot + 1} of {total}" in question.inner_text()
        choices = question.locator("button[data-token]").filter(has_not_text=re.compile(r"^\s*Skip\s*$"))
        if choices.count():  # a choice or true/false question: press its first answer
            result = _press(page, choices.first)
        else:  # a free-text one: the playground sends a typed answer to the pending question as `!answer TEXT`
            result = _chat(page, "!answer A tensor records the operations on it so backward() computes gradients.")
        assert result.get_attribute("data-kind") == "quiz_result", result.inner_text()
        if slot + 1 < total:
            question = _press(page, result.locator("button", has_text="Next"))
    summary = page.locator("li.msg.bot[data-kind=quiz_summary]")
    summary.wait_for()
    correct = int(re.search(rf"Quiz complete · (\d+) of {total}", summary.inner_text()).group(1))
    _shot(page, "quiz")

    _login(page, server)
    page.goto(f"{server}/dashboard/quizzes")
    rows = page.locator("table[data-table=quiz-attempts-per-day] tbody tr")
    # (attempts, correct, wrong) per day of the period: only today has any, one attempt per question answered
    cells = [[rows.nth(i).locator("td").nth(c).text_content().strip() for c in (1, 2, 3)] for i in range(rows.count())]
    assert [c for c in cells if c != ["0", "0", "0"]] == [[str(total), str(correct), str(total - correct)]]
    chart = page.locator("#quiz-attempts-per-day figure.chart.drawn[data-kind=bars]")
    chart.wait_for()
    bars = chart.locator("svg rect.bar")
    values = [float(bars.nth(i).get_attribute("data-value")) for i in range(bars.count())]
    assert sum(values) == total and sorted(v for v in values if v) == sorted(v for v in (correct, total - correct) if v)
    points = page.locator("#quiz-attempts-per-day figure.chart.drawn[data-kind=line] svg circle.point")
    points.first.wait_for()
    accuracy = [float(points.nth(i).get_attribute("data-value")) for i in range(points.count())]
    assert any(abs(a - correct / total) < 1e-3 for a in accuracy), accuracy  # today's point: the share answered right
    _shot(page, "quizzes")
