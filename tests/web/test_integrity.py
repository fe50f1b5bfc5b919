"""Nothing forged, nothing starved, clear refusals: what the web app does under a real database lock, with
anonymous visitors filling the demo queue, and with button presses typed by hand."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.core.conversation import Person, Request
from bot.db.models import Feedback
from tests.db_locks import database_locked
from tests.web.conftest import csrf

LOCKED = ("users", "channels", "jobs", "accounts", "login_attempts", "questions", "feedback")
TENSOR = "How is a PyTorch tensor different from a numpy array?"


@pytest.fixture
def fast_locks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Statements give up on a held lock after 0.3 s."""
    from bot.config import get_settings

    monkeypatch.setenv("TORCHTUTOR_DATABASE_LOCK_TIMEOUT_S", "0.3")
    get_settings.cache_clear()


def send(client: TestClient, text: str | None = None, button: str | None = None):  # type: ignore[no-untyped-def]
    body = {"text": text} if button is None else {"button": button}
    return client.post("/playground/send", json=body, headers={"X-CSRF-Token": csrf(client, "/playground")})


def replies(response) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    assert response.status_code == 200, response.text
    frames = [f for f in response.text.split("\n\n") if f.strip()]
    return [json.loads(f.split("data: ", 1)[1]) for f in frames if f.startswith("event: reply")]


def _one_line_503(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 503, (response.status_code, response.text[:300])
    assert int(response.headers["retry-after"]) > 0
    return str(response.headers.get("content-type", ""))


# --- clear refusals --------------------------------------------------------------------------------------------


def test_requests_that_cannot_reach_the_database_get_503_with_retry_after(fast_locks, app, client_for) -> None:  # type: ignore[no-untyped-def]
    runtime = app.state.runtime
    api = TestClient(app, base_url="https://testserver", client=("127.0.0.1", 50000))
    visitor = client_for()
    login_form = TestClient(app, base_url="https://testserver", client=("10.0.0.7", 50000))
    token = csrf(login_form)
    with database_locked(runtime.settings.database_url, LOCKED):
        submitted = api.post("/api/v1/demos/backward-pass/jobs", json={"params": {"x": [1, 2]}})
        assert "json" in _one_line_503(submitted)
        assert "database is busy" in submitted.json()["detail"] and "\n" not in submitted.json()["detail"]

        demo = send(visitor, "/demo backward-pass x=1,2")
        assert "json" in _one_line_503(demo) and "database" in demo.json()["detail"]

        login = login_form.post("/login", data={"username": "ada", "password": "x" * 12, "csrf_token": token},
                                headers={"Accept": "text/html"}, follow_redirects=False)
        assert "html" in _one_line_503(login) and "database is busy" in login.text

        # Chat platforms get one line in the conversation rather than an apology with an incident id.
        [reply] = asyncio.run(runtime.tutor.collect(Request(platform="discord", user=Person("u1", "u1"),
                                                            channel_id="c1", command="demo",
                                                            text="backward-pass x=1,2")))
        assert reply.kind == "unavailable" and "database" in reply.text and "\n" not in reply.text
    # Once the lock is gone the same requests work.
    assert api.post("/api/v1/demos/backward-pass/jobs", json={"params": {"x": [1, 2]}}).status_code == 202


# --- anonymous visitors cannot starve the platforms ------------------------------------------------------------


def _start(runtime, platform: str, user: str, origin: str = "") -> str:  # type: ignore[no-untyped-def]
    request = Request(platform=platform, user=Person(user, user), channel_id=f"c-{user}", origin=origin)
    return runtime.demos.start_demo(request, "backward-pass", {"x": [1.0, 2.0]}).job_id


def test_playground_jobs_are_limited_per_address_and_to_a_share_of_the_queue(app, client_for) -> None:  # type: ignore[no-untyped-def]
    runtime = app.state.runtime
    assert runtime.demos.limits.anonymous == 5  # a quarter of the default queue of 20
    # Two jobs from one address (the playground gives each new cookie a new guest): the address is full.
    _start(runtime, "web", "guest-a", origin="10.0.0.9")
    _start(runtime, "web", "guest-b", origin="10.0.0.9")
    [refused] = replies(send(client_for(address="10.0.0.9"), "/demo backward-pass x=1,2"))
    assert refused["kind"] == "error" and "your network address already has 2" in refused["html"]
    # Other addresses fill the playground's share, then every anonymous visitor waits ...
    for n, address in enumerate(("10.0.1.1", "10.0.1.1", "10.0.1.2")):
        _start(runtime, "web", f"guest-{n}", origin=address)
    [refused] = replies(send(client_for(address="10.0.2.1"), "/demo backward-pass x=1,2"))
    assert "visitors of the playground already have 5" in refused["html"]
    # ... while people on the chat platforms and the API still get their demos queued.
    for platform in ("discord", "slack", "api"):
        assert _start(runtime, platform, f"{platform}-person")


# --- a button press is checked wherever it comes from -----------------------------------------------------------


def _votes(runtime) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    with runtime.database.session() as session:
        return [(row.user_id, row.vote) for row in session.scalars(select(Feedback))]


def test_a_typed_click_in_the_playground_needs_a_button_signed_for_that_visitor(app, client_for) -> None:  # type: ignore[no-untyped-def]
    runtime = app.state.runtime
    alice, mallory = client_for(), client_for(address="10.0.0.2")
    [answer] = replies(send(alice, TENSOR))
    up = next(b["token"] for b in answer["buttons"] if b["label"] == "👍 Helpful")
    question_id = _latest_question(runtime)
    for forged in (f"!click feedback:down:{question_id}", f"!click {up}"):
        response = send(mallory, forged)
        assert response.status_code == 400 and "not one the bot showed you" in response.json()["detail"]
    assert _votes(runtime) == []
    [thanks] = replies(send(alice, f"!click {up}"))  # the visitor's own button, typed, works like a press
    assert "Thanks" in thanks["html"]
    assert [vote for _, vote in _votes(runtime)] == [1]


def _latest_question(runtime) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import func

    from bot.db.models import Question

    with runtime.database.session() as session:
        return int(session.scalar(select(func.max(Question.id))) or 0)


def test_nobody_votes_on_an_answer_given_elsewhere_and_one_vote_per_person(runtime) -> None:  # type: ignore[no-untyped-def]
    slack = Request(platform="slack", user=Person("U1", "ann"), channel_id="C1", workspace_id="T1", command="ask",
                    text=TENSOR)
    answer = asyncio.run(runtime.qa.ask(slack))
    down = next(b.id for b in answer.buttons if b.id.startswith("feedback:down:"))
    strangers = [
        Request(platform="web", user=Person("guest-x"), channel_id="playground-guest-x", is_direct=True,
                action=down),
        Request(platform="console", user=Person("local"), channel_id="terminal", is_direct=True, action=down),
        Request(platform="slack", user=Person("U9"), channel_id="D9", workspace_id="T2", action=down),
    ]
    for stranger in strangers:
        [reply] = asyncio.run(runtime.tutor.collect(stranger))
        assert reply.kind == "error" and "your own conversation" in reply.text, stranger
    assert _votes(runtime) == []
    # A colleague in the channel may rate it; pressing again changes their vote rather than adding one.
    colleague = Request(platform="slack", user=Person("U2", "bo"), channel_id="C1", workspace_id="T1")
    for action in (down, down.replace(":down:", ":up:"), down):
        asyncio.run(runtime.tutor.collect(Request(**{**colleague.__dict__, "action": action})))
    assert [vote for _, vote in _votes(runtime)] == [-1]
