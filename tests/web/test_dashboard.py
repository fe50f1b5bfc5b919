"""The dashboard's numbers, tables, exports and knowledge editing, with data made through the /ask flow."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from bot.core.conversation import Person, Request
from bot.db.models import Question
from bot.db.quiz_models import QuizAttempt, QuizSession
from tests.conftest import cli
from tests.helpers import wait_until
from tests.web.conftest import csrf

TENSOR = "How is a PyTorch tensor different from a numpy array?"
GRAPH = "what is a dynamic computation graph?"
DIV = "How do I center a div in CSS?"


def ask(runtime, text: str, *, platform: str, user: str, channel: str) -> list:  # type: ignore[no-untyped-def]
    """Ask through the core, as any adapter does; the question is recorded."""
    request = Request(platform=platform, user=Person(user, user.title()), channel_id=channel, channel_name=channel,
                      command="ask", text=text)
    return asyncio.run(runtime.tutor.collect(request))


@pytest.fixture
def asked(runtime):  # type: ignore[no-untyped-def]
    """Two answered questions on Discord, the same declined question twice (Slack and the web), worded apart."""
    ask(runtime, TENSOR, platform="discord", user="alice", channel="general")
    ask(runtime, GRAPH, platform="discord", user="alice", channel="general")
    ask(runtime, DIV, platform="slack", user="bob", channel="random")
    ask(runtime, "how do i center a DIV in css", platform="web", user="carol", channel="playground")
    return runtime


CHOICE = "dynamic-graph-when-built"  # a choice item of topic autograd; its right answer is authored choice 1
TRUE_FALSE = "dynamic-graph-fixed-reuse"  # a true/false item of topic autograd; the statement is false


def quiz(runtime, answers: list[tuple[str, str]], *, platform: str, user: str,  # type: ignore[no-untyped-def]
         channel: str) -> None:
    """Take a personal /quiz through the Tutor with these (item id, answer) answers, in order: a choice item's
    answer is the authored choice's number, pressed wherever the shuffle showed it; true/false as is."""
    features = runtime.quizzes
    snapshot = features.bank.snapshot()
    features.quiz.pick = lambda pool, count, **_: [snapshot.get(item_id) for item_id, _ in answers]

    def send(command: str = "", action: str | None = None) -> list:  # type: ignore[type-arg]
        request = Request(platform=platform, user=Person(user, user.title()), channel_id=channel,
                          channel_name=channel, command=command, action=action, is_direct=True)
        return asyncio.run(runtime.tutor.collect(request))

    [question] = send(command="quiz")
    for number, (_, value) in enumerate(answers, start=1):
        assert question.kind == "quiz_question", question
        prefix = next(b.id for b in question.buttons if b.id.startswith("quiz:answer:")).rsplit(":", 1)[0]
        item = snapshot.get(answers[number - 1][0])
        if item.kind == "choice":
            text = item.choices[int(value) - 1].text
            value = next(b.id for b in question.buttons if b.label[3:] == text).rsplit(":", 1)[1]
        result, *rest = send(action=f"{prefix}:{value}")
        if number < len(answers):
            [question] = send(action=next(b.id for b in result.buttons if b.id.startswith("quiz:next:")))
        else:
            assert rest and rest[0].kind == "quiz_summary", rest


@pytest.fixture
def quizzed(asked):  # type: ignore[no-untyped-def]
    """On top of `asked`: Alice (Discord) gets one right and one wrong, Bob (Slack) gets one wrong."""
    quiz(asked, [(CHOICE, "1"), (TRUE_FALSE, "true")], platform="discord", user="alice", channel="general")
    quiz(asked, [(CHOICE, "2")], platform="slack", user="bob", channel="random")
    return asked


def _csv(response) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    return list(csv.DictReader(io.StringIO(response.text)))


def _reindexed(app, before: int) -> None:  # type: ignore[no-untyped-def]
    wait_until(lambda: app.state.runtime.knowledge.version > before and not app.state.reindexer.busy,
               timeout=60, what="the reindex after a save")


def test_overview_counts_questions_people_and_channels(app, asked, client_for) -> None:  # type: ignore[no-untyped-def]
    viewer = client_for("vic")
    numbers = viewer.get("/api/v1/stats/overview").json()
    assert {k: numbers[k] for k in ("asked", "answered", "declined", "answered_share", "people", "channels")} == {
        "asked": 4, "answered": 2, "declined": 2, "answered_share": 0.5, "people": 3, "channels": 3}
    assert numbers["demos_run"] == 0  # no /demo was run (tests/web/test_dashboard_jobs.py counts some)
    discord = viewer.get("/api/v1/stats/overview?platform=discord").json()
    assert (discord["asked"], discord["answered"], discord["people"]) == (2, 2, 1)
    page = viewer.get("/dashboard").text
    assert 'data-kpi="asked">4<' in page and 'data-kpi="answered_share">50%<' in page
    assert 'data-src="/api/v1/stats/questions-per-day?days=30"' in page


def test_questions_per_day_cover_every_day_of_the_range(app, asked, client_for) -> None:  # type: ignore[no-untyped-def]
    with app.state.runtime.database.transaction() as session:
        session.add(Question(platform="slack", text="old one", status="answered", entry_id="x", score=0.9,
                             created_at=datetime.now(UTC) - timedelta(days=10)))
    viewer = client_for("vic")
    week = viewer.get("/api/v1/stats/questions-per-day?days=7").json()
    assert len(week["rows"]) == 7 and week["period"]["days"] == 7
    assert week["rows"][-1]["asked"] == 4 and sum(r["asked"] for r in week["rows"]) == 4
    month = viewer.get("/api/v1/stats/questions-per-day?days=30").json()
    assert sum(r["asked"] for r in month["rows"]) == 5
    old_day = (datetime.now(UTC) - timedelta(days=10)).date().isoformat()
    exact = viewer.get(f"/api/v1/stats/questions-per-day?start={old_day}&end={old_day}").json()
    assert exact["rows"] == [{"day": old_day, "asked": 1, "answered": 1, "declined": 0, "answered_share": 1.0}]
    assert viewer.get("/api/v1/stats/overview?start=2025-01-02&end=2025-01-01").status_code == 400
    assert viewer.get("/api/v1/stats/overview?start=2025-01-02").status_code == 400
    assert viewer.get("/api/v1/stats/overview?days=0").status_code == 422


def test_every_table_exports_as_csv_with_its_rows(app, quizzed, client_for) -> None:  # type: ignore[no-untyped-def]
    viewer = client_for("vic")
    listed = viewer.get("/api/v1/stats").json()["tables"]
    names = {t["name"] for t in listed}
    assert {"questions-per-day", "top-entries", "gaps", "channels", "people", "platforms",
            "knowledge-entries"} <= names
    for name in names:
        assert _csv(viewer.get(f"/dashboard/export/{name}.csv")), name
    people = _csv(viewer.get("/dashboard/export/people.csv?days=7"))
    assert {(r["platform"], r["person"], r["asked"]) for r in people} == {
        ("discord", "Alice", "2"), ("slack", "Bob", "1"), ("web", "Carol", "1")}
    entries = _csv(viewer.get("/dashboard/export/top-entries.csv"))
    assert entries[0]["entry_id"] == "how-does-pytorch-s-tensor-object-differ-from-a-numpy-ndarray"
    assert viewer.get("/dashboard/export/nothing.csv").status_code == 404
    assert {"quiz-attempts-per-day", "quiz-difficulty", "quiz-topics", "quiz-channels", "quiz-leaderboard",
            "quiz-review-backlog"} <= names

    days = _csv(viewer.get("/dashboard/export/quiz-attempts-per-day.csv?days=7"))
    assert len(days) == 7 and (days[-1]["attempts"], days[-1]["correct"], days[-1]["wrong"]) == ("3", "1", "2")
    assert days[-1]["people"] == "2" and float(days[-1]["accuracy"]) == pytest.approx(0.333)
    assert {(r["topic"], r["attempts"], round(float(r["accuracy"]), 3), r["people"])
            for r in _csv(viewer.get("/dashboard/export/quiz-topics.csv"))} == {("autograd", "3", 0.333, "2")}
    hardest = _csv(viewer.get("/dashboard/export/quiz-difficulty.csv"))
    assert [(r["item_id"], r["attempts"], float(r["share_correct"])) for r in hardest] == [
        (TRUE_FALSE, "1", 0.0), (CHOICE, "2", 0.5)]
    assert all(r["question"] and r["common_wrong"] for r in hardest), hardest
    # Wrong answers by what was picked, not by the number of the button it sat under.
    assert [r["common_wrong"] for r in hardest] == ["True (1)", "Once, when the model's class is defined (1)"]
    board = _csv(viewer.get("/dashboard/export/quiz-leaderboard.csv"))
    assert [(r["rank"], r["platform"], r["person"], r["score"], r["attempts"], r["streak"]) for r in board] == [
        ("1", "discord", "Alice", "1", "2", "1"), ("2", "slack", "Bob", "0", "1", "1")]
    channels = _csv(viewer.get("/dashboard/export/quiz-channels.csv?platform=discord"))
    assert [(r["channel"], r["attempts"]) for r in channels] == [("general", "2")]
    backlog = _csv(viewer.get("/dashboard/export/quiz-review-backlog.csv"))
    assert {r["person"] for r in backlog} == {"Alice", "Bob"}
    # Nothing is due this minute, only this week: the card's chart draws the week's, which every row has.
    assert all(r["due_now"] == "0" and int(r["due_this_week"]) > 0 for r in backlog), backlog
    page = viewer.get("/dashboard/quizzes").text
    assert 'data-src="/api/v1/stats/quiz-review-backlog' in page and 'data-series="due_this_week"' in page


def test_csv_cells_that_a_spreadsheet_would_run_are_defused(app, runtime, client_for) -> None:  # type: ignore[no-untyped-def]
    ask(runtime, '=HYPERLINK("http://evil.example","click") what is this', platform="web",
        user="=cmd|' /C calc'!A0", channel="c")
    viewer = client_for("vic")
    gaps = _csv(viewer.get("/dashboard/export/gaps.csv"))
    assert gaps[0]["question"].startswith("'=HYPERLINK(")
    people = _csv(viewer.get("/dashboard/export/people.csv"))
    assert people[0]["person"].startswith("'=")


def test_feedback_shows_on_the_top_entries(app, runtime, client_for) -> None:  # type: ignore[no-untyped-def]
    replies = ask(runtime, TENSOR, platform="discord", user="alice", channel="general")
    up = next(b.id for b in replies[0].buttons if b.id.startswith("feedback:up:"))
    asyncio.run(runtime.tutor.collect(Request(platform="discord", user=Person("alice"), channel_id="general",
                                              action=up)))
    rows = client_for("vic").get("/api/v1/stats/top-entries").json()["rows"]
    assert rows[0]["answered"] == 1 and rows[0]["helpful"] == 1 and rows[0]["not_helpful"] == 0
    assert client_for("vic").get("/api/v1/stats/overview").json()["helpful"] == 1


def test_gaps_group_declined_questions_and_lead_to_a_new_entry(app, asked, client_for) -> None:  # type: ignore[no-untyped-def]
    admin = client_for("ada")
    gap = _div_gap(admin.get("/api/v1/stats/gaps").json()["rows"])
    assert (gap["asked"], gap["people"], gap["platforms"], gap["reasons"]) == (2, 2, ["slack", "web"], "2 declined")
    page = admin.get("/dashboard/gaps").text
    link = re.search(r'href="(/dashboard/knowledge/new\?question=[^"]+)"', page)
    assert link, "an admin gets a one-click link from the gap to a new entry"
    form = admin.get(link.group(1).replace("&amp;", "&")).text
    assert f'value="{gap["question"]}"' in form
    before = app.state.runtime.knowledge.version
    response = admin.post("/dashboard/knowledge/new", follow_redirects=False, data={
        "question": "How do I center a div in CSS?", "answer": "Not a PyTorch question, but: use flexbox.",
        "aliases": "how do i center a DIV in css", "tags": "off-topic", "demo": "",
        "csrf_token": csrf(admin, "/dashboard")})
    assert response.status_code == 303
    _reindexed(app, before)
    # The entry answers the questions now: the gap closes by itself, on the page and in the API.
    assert not [r for r in admin.get("/api/v1/stats/gaps").json()["rows"] if r["key"] == gap["key"]]
    assert f'data-gap="{gap["key"]}"' not in admin.get("/dashboard/gaps").text
    assert "Add entry" not in client_for("vic").get("/dashboard/gaps").text


def _div_gap(rows: list[dict]) -> dict:  # type: ignore[type-arg]
    return next(r for r in rows if "div" in r["question"].lower())


def _cli_gaps() -> list[dict]:  # type: ignore[type-arg]
    listed = cli("gaps", "--json")
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)["gaps"]  # type: ignore[no-any-return]


def test_the_command_line_the_dashboard_and_the_api_share_one_list_of_gaps(app, asked, client_for) -> None:  # type: ignore[no-untyped-def]
    ask(asked, "best pizza dough recipe", platform="discord", user="dan", channel="general")
    admin = client_for("ada")
    api = admin.get("/api/v1/stats/gaps").json()["rows"]
    shown = {(r["key"], r["question"], r["asked"]) for r in api}
    assert {(g["key"], g["question"], g["asked"]) for g in _cli_gaps()} == shown, "the same groups everywhere"
    div, pizza = _div_gap(api), next(r for r in api if "pizza" in r["question"])

    dismissed = cli("gaps", "--dismiss", pizza["key"], "--by", "carol")
    assert dismissed.returncode == 0 and "dismissed (1 questions)" in dismissed.stdout, dismissed.stderr
    assert pizza["key"] not in {r["key"] for r in admin.get("/api/v1/stats/gaps").json()["rows"]}
    page = admin.get("/dashboard/gaps").text
    assert f'data-gap="{pizza["key"]}"' not in page and f'data-gap="{div["key"]}"' in page

    token = csrf(admin, "/dashboard")
    response = admin.post(f"/dashboard/gaps/{div['key']}/dismiss?days=7", data={"csrf_token": token},
                          follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/dashboard/gaps?days=7")
    page = admin.get(response.headers["location"]).text
    assert f"Dismissed {div['key']}" in page and f'data-gap="{div["key"]}"' not in page
    assert {div["key"], pizza["key"]}.isdisjoint(g["key"] for g in _cli_gaps())
    assert div["key"] not in {r["key"] for r in admin.get("/api/v1/stats/gaps").json()["rows"]}
    again = admin.post(f"/dashboard/gaps/{div['key']}/dismiss", data={"csrf_token": token})
    assert again.status_code == 404 and "There is no gap" in again.text
    assert client_for("vic").post(f"/dashboard/gaps/{div['key']}/dismiss",
                                  data={"csrf_token": csrf(client_for("vic"), "/dashboard")}).status_code == 403


def test_an_added_entry_answers_ask_after_the_live_reindex(app, runtime, client_for) -> None:  # type: ignore[no-untyped-def]
    admin = client_for("ada")
    question = "How do I decode sequences with beam search?"  # the pack has no entry on this
    assert ask(runtime, question, platform="web", user="u", channel="c")[0].kind == "no_match"
    before = runtime.knowledge.version
    response = admin.post("/dashboard/knowledge/new", follow_redirects=False, data={
        "question": question,
        "answer": "Keep the best `k` partial sequences each step: `scores.topk(k, dim=-1)` picks them.",
        "aliases": "how to do beam search decoding in pytorch\nbeam search for a seq2seq model",
        "tags": "decoding, nlp", "demo": "", "csrf_token": csrf(admin, "/dashboard")})
    entry = "how-do-i-decode-sequences-with-beam-search"
    assert response.headers["location"] == f"/dashboard/knowledge/{entry}?saved=1"
    _reindexed(app, before)
    reply = ask(runtime, "how do I decode sequences with beam search in pytorch", platform="web", user="u",
                channel="c")[0]
    assert reply.kind == "answer" and reply.citation.startswith(entry)
    page = admin.get(f"/dashboard/knowledge/{entry}").text
    assert "<code>scores.topk(k, dim=-1)</code>" in page
    assert "v1</strong> saved by ada" in page and "yes, the bot answers from this version" in page
    listed = admin.get("/dashboard/knowledge?q=beam").text
    assert entry in listed and "what-is-pytorch" not in listed


def test_editing_keeps_history_and_refuses_a_stale_form(app, runtime, client_for) -> None:  # type: ignore[no-untyped-def]
    admin = client_for("ada")
    entry = "what-is-pytorch-and-what-are-its-two-main-features"
    form = admin.get(f"/dashboard/knowledge/{entry}/edit").text
    assert 'name="version" value="0"' in form and "Facebook" in form  # a document entry, not stored yet
    token = csrf(admin, "/dashboard")
    data = {"question": "What is PyTorch, and what are its two main features?",
            "answer": "PyTorch is a deep learning library: tensors on GPUs, and autograd.", "aliases": "",
            "tags": "basics", "demo": "", "csrf_token": token}
    before = runtime.knowledge.version
    assert admin.post(f"/dashboard/knowledge/{entry}/edit", data={**data, "version": "0"},
                      follow_redirects=False).status_code == 303
    stale = admin.post(f"/dashboard/knowledge/{entry}/edit", data={**data, "answer": "other", "version": "0"})
    assert stale.status_code == 409 and "meanwhile" in stale.text
    assert admin.post(f"/dashboard/knowledge/{entry}/edit", data={**data, "answer": "Second take.", "version": "1"},
                      follow_redirects=False).status_code == 303
    bad = admin.post(f"/dashboard/knowledge/{entry}/edit", data={**data, "answer": " ", "version": "2"})
    assert bad.status_code == 400 and "The answer is empty" in bad.text
    unknown_demo = admin.post(f"/dashboard/knowledge/{entry}/edit", data={**data, "demo": "nope", "version": "2"})
    assert unknown_demo.status_code == 400 and "There is no demo" in unknown_demo.text
    _reindexed(app, before)
    wait_until(lambda: runtime.knowledge.index.by_id[entry].answer == "Second take.", what="version 2 live")
    page = admin.get(f"/dashboard/knowledge/{entry}").text
    assert "v2</strong> saved by ada" in page and "v1</strong> saved by ada" in page
    assert admin.get(f"/dashboard/knowledge/{entry}/edit").text.count('name="version" value="2"') == 1


def test_removing_an_entry_takes_it_out_of_the_answers(app, runtime, client_for) -> None:  # type: ignore[no-untyped-def]
    admin = client_for("ada")
    entry = "how-does-pytorch-s-tensor-object-differ-from-a-numpy-ndarray"
    before = runtime.knowledge.version
    response = admin.post(f"/dashboard/knowledge/{entry}/delete", follow_redirects=False,
                          data={"version": "0", "csrf_token": csrf(admin, "/dashboard")})
    assert response.status_code == 303
    _reindexed(app, before)
    assert entry not in runtime.knowledge.index.by_id
    reply = ask(runtime, TENSOR, platform="web", user="u", channel="c")[0]
    assert not (reply.citation or "").startswith(entry)
    page = admin.get(f"/dashboard/knowledge/{entry}").text
    assert "removed from the knowledge base" in page and "v1</strong> removed by ada" in page  # one version a change
    rows = admin.get("/api/v1/stats/knowledge-entries").json()["rows"]
    assert next(r for r in rows if r["entry_id"] == entry)["status"] == "removed"


def test_the_knowledge_page_shows_the_thresholds_fitted_to_the_entries(app, runtime, client_for) -> None:  # type: ignore[no-untyped-def]
    calibration = runtime.ask.calibration
    assert calibration.fitted
    page = client_for("vic").get("/dashboard/knowledge").text
    shown = re.search(r'class="calibration"[^>]*>answer threshold ([0-9.]+),\s*related ([0-9.]+)\s*'
                      r'\(fitted to these entries\)', page)
    assert shown is not None
    assert (float(shown[1]), float(shown[2])) == (round(calibration.answer, 3), round(calibration.related, 3))


def test_entry_text_is_escaped_on_the_dashboard(app, client_for) -> None:  # type: ignore[no-untyped-def]
    admin = client_for("ada")
    admin.post("/dashboard/knowledge/new", follow_redirects=False, data={
        "question": "What about <script>alert(1)</script>?", "answer": "<img src=x onerror=alert(1)> **ok**",
        "aliases": "", "tags": "", "demo": "", "csrf_token": csrf(admin, "/dashboard")})
    page = admin.get("/dashboard/knowledge/what-about-script-alert-1-script").text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt; <strong>ok</strong>" in page


@pytest.mark.postgres
def test_usage_numbers_agree_on_postgresql(postgres_url) -> None:  # type: ignore[no-untyped-def]
    """Days are UTC days and the grouped queries are valid SQL on PostgreSQL too (SQLite is more lenient)."""
    from bot.core.admin import quiz_stats, usage
    from bot.core.admin.usage import Period
    from bot.db import knowledge_repo, repo
    from bot.db.engine import Database
    from bot.db.migrate import upgrade

    upgrade(postgres_url)
    database = Database.from_url(postgres_url)
    late = datetime(2025, 3, 1, 23, 30, tzinfo=UTC)  # 23:30 UTC is already 2 March in many time zones
    try:
        with database.transaction() as session:
            user = repo.get_or_create_user(session=session, platform="slack", platform_user_id="U1", display_name="Ann")
            channel = repo.get_or_create_channel(session=session, platform="slack", workspace_id="T",
                                                 platform_channel_id="C1", name="general")
            for status, entry, text_ in (("answered", "e1", "a"), ("answered", "e1", "b"), ("no_match", None, "Why?")):
                row = repo.record_question(session=session, platform="slack", user=user, channel=channel, text=text_,
                                           entry_id=entry, score=0.7, status=status, latency_ms=1.0)
                row.created_at = late
            repo.record_feedback(session=session, question_id=row.id - 1, user=user, vote=1)
            quiz_row = QuizSession(mode="personal", owner_id=user.id, channel_id=channel.id, item_ids=["i1"])
            session.add(quiz_row)
            session.flush()
            for slot, correct in ((0, True), (1, False)):
                session.add(QuizAttempt(session_id=quiz_row.id, slot=slot, user_id=user.id, channel_id=channel.id,
                                        mode="personal", item_id="i1", topic="autograd", entry_id="e1",
                                        kind="choice", answer=str(slot), correct=correct, score=float(correct),
                                        answered_at=late))
        with database.session() as session:
            session.execute(text("SET timezone = 'Asia/Tokyo'"))  # the server's zone must not move the days
            period = Period(late.date() - timedelta(days=1), late.date() + timedelta(days=1))
            days = usage.questions_per_day(session=session, period=period)
            assert [d["asked"] for d in days] == [0, 3, 0]
            assert usage.overview(session=session, period=period)["helpful"] == 1
            assert usage.top_entries(session=session, period=period)[0] | {"last_asked": None} == {
                "entry_id": "e1", "answered": 2, "helpful": 1, "not_helpful": 0, "last_asked": None}
            assert usage.channel_activity(session=session, period=period)[0]["channel"] == "general"
            assert usage.people_activity(session=session, period=period)[0]["person"] == "Ann"
            assert usage.questions_by_platform(session=session, period=period)[0]["asked"] == 3
            assert usage.platforms_seen(session=session) == ["slack"]
            first, after = period.bounds()
            gaps = knowledge_repo.gap_candidates(session=session, low_score=0.5, since=first, until=after,
                                                 platform="slack")
            assert [(question.text, votes) for question, votes in gaps] == [("Why?", 0)]
            assert [d["attempts"] for d in quiz_stats.attempts_per_day(session=session, period=period)] == [0, 2, 0]
            assert quiz_stats.by_question(session=session, period=period)[0]["share_correct"] == 0.5
            assert quiz_stats.by_topic(session=session, period=period)[0]["accuracy"] == 0.5
            assert quiz_stats.by_channel(session=session, period=period)[0]["channel"] == "general"
            assert quiz_stats.leaderboard(session=session, period=period)[0]["streak"] == 1
            assert quiz_stats.review_backlog(session=session, period=period) == []
    finally:
        database.dispose()
