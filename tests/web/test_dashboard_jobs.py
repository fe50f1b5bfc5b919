"""The dashboard's demo jobs: the list, a job's details, its live progress over SSE, and the admin-only cancel."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator

import pytest

from bot.core.conversation import Person, Request
from bot.db.engine import Database
from bot.runtime import build_runtime
from bot.web.app import create_app
from tests.bot.test_jobs_api import sse
from tests.jobs_support import HoldBackend, ThreadBackend, sample_demos_registered
from tests.web.conftest import csrf, make_account


def _app(settings, embedder, backend_kind: str) -> Iterator:  # type: ignore[no-untyped-def,type-arg]
    database = Database.from_url(settings.database_url)
    backend = ThreadBackend(database) if backend_kind == "thread" else HoldBackend()
    runtime = build_runtime(settings, encoder=embedder, database=database, backend=backend)
    runtime.demos.poll_s = 0.2
    runtime.start()
    make_account(runtime, "ada", "admin")
    make_account(runtime, "vic", "viewer")
    with sample_demos_registered():
        yield create_app(runtime)
    runtime.close()


@pytest.fixture
def app(request, migrated, embedder) -> Iterator:  # type: ignore[no-untyped-def,type-arg]
    """The web app whose demo jobs stay queued (nothing runs them), or with `thread` (indirect) run on threads."""
    yield from _app(migrated, embedder, getattr(request, "param", "hold"))


def start(app, demo: str = "backward-pass", params: dict | None = None) -> str:  # type: ignore[no-untyped-def,type-arg]
    """Start a demo as Alice on Discord would, through the core; the job id."""
    request = Request(platform="discord", user=Person("alice", "Alice"), channel_id="general",
                      channel_name="general", command="demo")
    demos = app.state.runtime.demos
    return asyncio.run(asyncio.to_thread(demos.start_demo, request, demo, params or {})).job_id


def test_jobs_are_listed_and_only_an_admin_may_cancel(app, client_for) -> None:  # type: ignore[no-untyped-def]
    job_id = start(app)
    store = app.state.runtime.demos.store

    stranger = client_for()
    token = csrf(stranger, "/login")
    for method, url in (("GET", "/dashboard/jobs"), ("GET", f"/dashboard/jobs/{job_id}"),
                        ("GET", f"/dashboard/jobs/{job_id}/events"), ("POST", f"/dashboard/jobs/{job_id}/cancel")):
        response = stranger.request(method, url, data={"csrf_token": token} if method == "POST" else None,
                                    follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), url

    viewer = client_for("vic")
    page = viewer.get("/dashboard/jobs").text
    assert f'data-job="{job_id}" data-active="true"' in page and "backward-pass" in page and "Alice" in page
    assert "cpu: 1 waiting, 0 running" in page and "data-cancel" not in page
    details = viewer.get(f"/dashboard/jobs/{job_id}").text
    assert "queued" in details and "data-cancel" not in details
    refused = viewer.post(f"/dashboard/jobs/{job_id}/cancel", data={"csrf_token": csrf(viewer, "/dashboard")},
                          follow_redirects=False)
    assert refused.status_code == 403 and store.get(job_id).status == "queued"

    admin = client_for("ada")
    assert f'data-cancel="{job_id}"' in admin.get("/dashboard/jobs").text
    assert admin.post(f"/dashboard/jobs/{job_id}/cancel", data={}, follow_redirects=False).status_code == 403
    token = csrf(admin, "/dashboard")
    done = admin.post(f"/dashboard/jobs/{job_id}/cancel", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/dashboard/jobs/{job_id}?cancelled=1"
    snapshot = store.get(job_id)
    assert snapshot.status == "cancelled" and "ada" in (snapshot.error or "")
    assert app.state.runtime.demos.backend.cancelled == [job_id]
    assert 'data-notice="cancelled"' in admin.get(done.headers["location"]).text
    again = admin.post(f"/dashboard/jobs/{job_id}/cancel", data={"csrf_token": token}, follow_redirects=False)
    assert again.status_code == 409
    assert admin.post("/dashboard/jobs/nope/cancel", data={"csrf_token": token}).status_code == 404
    assert viewer.get("/dashboard/jobs/nope").status_code == 404
    assert viewer.get("/dashboard/jobs/nope/events").status_code == 404
    # A finished job's stream is its result at once.
    with viewer.stream("GET", f"/dashboard/jobs/{job_id}/events") as stream:
        assert [(name, data["status"]) for name, data in sse(stream.iter_lines())] == [("result", "cancelled")]


def test_a_learners_run_is_listed_by_its_code_hash_and_where_it_came_from(app, client_for) -> None:  # type: ignore[no-untyped-def]
    from bot.core.demos.snippets import RunSettings, SnippetRuns

    runtime = app.state.runtime
    runs = SnippetRuns(runtime.database, runtime.demos, RunSettings(enabled=True))
    request = Request(platform="discord", user=Person("alice", "Alice"), channel_id="C42", channel_name="study-hall",
                      command="run")
    code = "print('secret-ish code')\n"
    started = asyncio.run(asyncio.to_thread(runs.start_run, request, code))
    sha = hashlib.sha256(code.encode()).hexdigest()
    page = client_for("vic").get("/dashboard/jobs").text
    row = page[page.index(f'data-job="{started.job_id}"'):]
    row = row[:row.index("</tr>")]
    assert f"run · sha256 {sha[:12]}" in row and "Alice (discord)" in row and "study-hall" in row
    assert "secret-ish" not in page  # the list never shows a learner's code


def test_demos_run_counts_the_jobs_of_the_period(app, client_for) -> None:  # type: ignore[no-untyped-def]
    start(app)
    start(app)
    viewer = client_for("vic")
    assert viewer.get("/api/v1/stats/overview").json()["demos_run"] == 2
    assert viewer.get("/api/v1/stats/overview?platform=discord").json()["demos_run"] == 2
    assert viewer.get("/api/v1/stats/overview?platform=slack").json()["demos_run"] == 0
    assert viewer.get("/api/v1/stats/overview?start=2025-01-01&end=2025-01-02").json()["demos_run"] == 0
    assert 'data-kpi="demos_run">2<' in viewer.get("/dashboard").text


@pytest.mark.parametrize("app", ["thread"], indirect=True)
def test_a_viewer_follows_a_running_job_to_its_result(app, client_for) -> None:  # type: ignore[no-untyped-def]
    job_id = start(app, "train-tiny", {"steps": 30})
    viewer = client_for("vic")
    with viewer.stream("GET", f"/dashboard/jobs/{job_id}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = sse(stream.iter_lines())
    kinds = [name for name, _ in events]
    assert kinds[-1] == "result" and set(kinds[:-1]) <= {"progress"}, kinds
    progress = [data["progress"] for name, data in events if name == "progress"]
    assert progress == sorted(progress)
    assert all(data["status"] in ("queued", "running") for name, data in events if name == "progress")
    result = events[-1][1]
    assert result["status"] == "succeeded" and "def train_mlp" in result["code"] and result["images"] == []
    details = viewer.get(f"/dashboard/jobs/{job_id}").text
    assert "succeeded" in details and "def train_mlp" in details and "data:image/png;base64," in details
    assert 'data-active="false"' in details
    # The result reads as the chat shows it, and the loss curve is a chart, not a run of raw numbers.
    assert "<strong>Train a tiny MLP</strong>" in details and "**Train" not in details
    curve = details.split('<li data-metric="loss_curve">', 1)[1].split("</li>", 1)[0]
    assert '<svg class="metric-chart"' in curve and curve.count("<polyline") == 1
    assert "31 values: " in curve and ", 2." not in curve.split("</svg>", 1)[1]
