"""run_job without any broker: one result per job, throttled progress, time limits, cancellation, failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from tests.helpers import wait_until
from tests.jobs_support import RecordingPublisher, insert_job, migrated_database, sample_demos_registered
from workers import demos
from workers.jobs import CANCELLED, FAILED, PROGRESS, RESULT, STATE, SUCCEEDED, TIMED_OUT
from workers.runner import run_job
from workers.store import JobStore


@pytest.fixture
def store(migrated) -> Iterator[JobStore]:  # type: ignore[no-untyped-def]
    database = migrated_database(migrated.database_url)
    with sample_demos_registered():
        yield JobStore(database)
    database.dispose()


def test_a_job_runs_once_and_a_redelivery_posts_nothing(store: JobStore) -> None:
    spec = insert_job(store, "backward-pass", {"x": [1.0, 2.0]})
    publisher = RecordingPublisher()
    outcome = run_job(spec.job_id, store, publisher, worker="w1", device="cpu")
    assert outcome.status == SUCCEEDED and outcome.ran and not outcome.recycle
    kinds = [event.kind for event in publisher.events]
    assert kinds[0] == STATE and kinds[-1] == RESULT and kinds.count(RESULT) == 1 and PROGRESS in kinds
    progress = [event.progress for event in publisher.events]
    assert progress == sorted(progress)
    job = store.get(spec.job_id)
    assert job is not None and job.status == SUCCEEDED and job.attempts == 1 and job.device == "cpu"
    assert job.result is not None and job.result.metrics["grad"] == [5.0, 14.0] and "def gradient_of_cubic" in \
        job.result.code
    # The broker delivers the same message again (its worker was thought lost): nothing runs, nothing is posted.
    again = RecordingPublisher()
    assert run_job(spec.job_id, store, again, worker="w2", device="cpu").ran is False
    assert again.events == []
    assert store.get(spec.job_id).worker == "w1"  # type: ignore[union-attr]


def test_progress_is_persisted_and_published_at_most_every_interval(store: JobStore) -> None:
    spec = insert_job(store, "test-sleep", {"seconds": 0.5})  # 21 progress calls in half a second
    publisher = RecordingPublisher()
    start = time.monotonic()
    run_job(spec.job_id, store, publisher, worker="w", device="cpu", progress_interval=0.2)
    elapsed = time.monotonic() - start
    progress = [event for event in publisher.events if event.kind == PROGRESS]
    assert 2 <= len(progress) <= elapsed / 0.2 + 2 < 21, [e.progress for e in progress]
    assert progress[0].progress == 0.0 and progress[-1].progress == 1.0  # the first at once, the last flushed


def test_a_demo_past_its_time_limit_ends_timed_out(store: JobStore) -> None:
    spec = insert_job(store, "test-short-limit", {"seconds": 3})  # limit 1 s
    publisher = RecordingPublisher()
    outcome = run_job(spec.job_id, store, publisher, worker="w", device="cpu")
    job = store.get(spec.job_id)
    assert outcome.status == TIMED_OUT and job is not None and job.status == TIMED_OUT
    assert job.error == "it ran longer than its 1 s time limit"
    assert publisher.events[-1].kind == RESULT and publisher.events[-1].status == TIMED_OUT


def test_a_backend_time_limit_exception_also_means_timed_out(store: JobStore) -> None:
    class SoftLimit(Exception):
        """Stands in for Celery's SoftTimeLimitExceeded."""

    def raise_soft_limit(params, progress):  # type: ignore[no-untyped-def]
        raise SoftLimit()

    spec = insert_job(store, "test-boom")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(demos._DEMOS, "test-boom", replace(demos.get_demo("test-boom"), run=raise_soft_limit))
        outcome = run_job(spec.job_id, store, RecordingPublisher(), worker="w", device="cpu",
                          time_limit_errors=(SoftLimit,))
    assert outcome.status == TIMED_OUT


def test_cancelling_a_running_job_stops_the_demo_at_its_next_report(store: JobStore) -> None:
    spec = insert_job(store, "test-sleep", {"seconds": 10})
    publisher = RecordingPublisher()
    outcomes = []
    thread = threading.Thread(target=lambda: outcomes.append(
        run_job(spec.job_id, store, publisher, worker="w", device="cpu", progress_interval=0.05)))
    thread.start()
    wait_until(lambda: store.get(spec.job_id).progress > 0, timeout=10)  # type: ignore[union-attr]
    assert store.cancel(spec.job_id, reason="cancelled by alice")
    thread.join(5)
    assert not thread.is_alive(), "the demo kept running after its job was cancelled"
    assert outcomes[0].status is None and outcomes[0].ran  # it wrote nothing: the cancel was the result
    job = store.get(spec.job_id)
    assert job is not None and job.status == CANCELLED and job.error == "cancelled by alice"
    assert all(event.kind != RESULT for event in publisher.events)


def test_a_job_whose_worker_kept_dying_is_failed_instead_of_run_again(store: JobStore) -> None:
    spec = insert_job(store, "backward-pass")
    for worker in ("w1", "w2", "w3"):  # three deliveries, each worker killed mid-job
        store.claim(spec.job_id, worker=worker, device="cpu")
    outcome = run_job(spec.job_id, store, RecordingPublisher(), worker="w4", device="cpu", max_attempts=3)
    job = store.get(spec.job_id)
    assert outcome.status == FAILED and job is not None and job.attempts == 4
    assert job.error == "the worker running it stopped unexpectedly 3 times, so it was not tried again"


def test_a_demo_that_raises_fails_with_a_one_line_reason(store: JobStore) -> None:
    spec = insert_job(store, "test-boom")
    outcome = run_job(spec.job_id, store, RecordingPublisher(), worker="w", device="cpu")
    job = store.get(spec.job_id)
    assert outcome.status == FAILED and job is not None and job.error == "the demo raised ValueError: boom"


def test_out_of_memory_fails_the_job_and_asks_for_a_fresh_process(store: JobStore) -> None:
    spec = insert_job(store, "test-oom")
    outcome = run_job(spec.job_id, store, RecordingPublisher(), worker="w", device="cpu")
    job = store.get(spec.job_id)
    assert outcome.recycle and outcome.status == FAILED
    assert job is not None and job.error == "the GPU ran out of memory; try smaller parameters"


def test_bad_stored_params_fail_with_the_reason(store: JobStore) -> None:
    spec = insert_job(store, "backward-pass", {"x": [1000.0]})  # bypassed start_demo's validation
    run_job(spec.job_id, store, RecordingPublisher(), worker="w", device="cpu")
    job = store.get(spec.job_id)
    assert job is not None and job.status == FAILED and "must be between -100 and 100" in (job.error or "")
