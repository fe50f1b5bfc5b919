"""Prometheus metrics of one process, in a registry the runtime owns (never prometheus_client's global one).

Two kinds of series:

* Counters of what this process did (questions answered, quiz attempts, platform API errors). Each bot and web
  process counts its own work, so `sum` across instances is the total.
* Gauges and counters that describe shared state (jobs by demo and status, queue depth, workers). The truth is in
  PostgreSQL and Redis, so they are read at scrape time from a source the jobs code registers
  (`set_jobs_source`, `set_queue_depth_source`, `set_workers_source`). Every process reports the same values:
  aggregate them with `max`, not `sum`.

A source is a plain function called in the scrape's worker thread; keep it to one cheap query. When it raises,
its series is left out of that scrape, the error is logged, and `torchtutor_metrics_source_errors_total` counts it.
"""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

log = logging.getLogger(__name__)

# Answers are one embedding plus a database write: tens of milliseconds when healthy.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST

JobsSource = Callable[[], Mapping[tuple[str, str], float]]
"""Returns {(demo, status): number of jobs}, e.g. `SELECT demo, status, count(*) FROM jobs GROUP BY 1, 2`."""
PerQueueSource = Callable[[], Mapping[str, float]]
K = TypeVar("K")  # the key of a scrape-time source: (demo, status) or a queue name
"""Returns {queue name: value}, e.g. {"gpu": 3, "cpu": 0}."""


class Metrics:
    """The series of one runtime; implements bot.core.telemetry.Telemetry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` twin of every counter: Prometheus does not use them
        self.registry = registry or CollectorRegistry()
        self.questions = Counter("torchtutor_questions", "Questions answered or declined, by outcome and platform.",
                                 ["status", "platform"], registry=self.registry)
        self.answer_latency = Histogram(
            "torchtutor_answer_latency_seconds",
            "Seconds from a question reaching the core to its answer being recorded.",
            buckets=LATENCY_BUCKETS, registry=self.registry)
        self.quiz_attempts = Counter("torchtutor_quiz_attempts", "Quiz answers graded, by correctness.",
                                     ["correct"], registry=self.registry)
        self.platform_api_errors = Counter("torchtutor_platform_api_errors",
                                           "Failed calls to a chat platform's API, by platform and kind.",
                                           ["platform", "kind"], registry=self.registry)
        self.records_lost = Counter("torchtutor_records_lost",
                                    "Records (questions, feedback, quiz answers, job results) given up because the "
                                    "database stayed unavailable past the retry bounds, by kind and reason.",
                                    ["kind", "reason"], registry=self.registry)
        self.records_waiting = Gauge("torchtutor_records_waiting",
                                     "Records kept in this process's journal until the database takes them.",
                                     registry=self.registry)
        self._source_errors: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._jobs: JobsSource | None = None
        self._queue_depth: PerQueueSource | None = None
        self._workers: PerQueueSource | None = None
        self.registry.register(_SharedState(self))

    # -- what the core reports (bot.core.telemetry.Telemetry) --

    def question_answered(self, *, platform: str, status: str, seconds: float) -> None:
        """Count one question and observe how long it took."""
        self.questions.labels(status=status, platform=platform).inc()
        self.answer_latency.observe(max(seconds, 0.0))

    def quiz_attempted(self, *, correct: bool) -> None:
        """Count one graded quiz answer."""
        self.quiz_attempts.labels(correct="true" if correct else "false").inc()

    def platform_api_error(self, *, platform: str, kind: str) -> None:
        """Count one failed call to Discord's or Slack's API."""
        self.platform_api_errors.labels(platform=platform, kind=kind).inc()

    def record_lost(self, kind: str, reason: str) -> None:
        """Count one record the journal gave up on (bot.db.journal's `on_lost`)."""
        self.records_lost.labels(kind=kind, reason=reason).inc()

    def watch_journal(self, pending: Callable[[], int]) -> None:
        """Report `pending()` (records waiting for the database) as `torchtutor_records_waiting`."""
        self.records_waiting.set_function(lambda: float(pending()))

    # -- shared state, read at scrape time --

    def set_jobs_source(self, source: JobsSource | None) -> None:
        """Feed `torchtutor_jobs_total{demo,status}` from the job rows (cumulative counts per status)."""
        self._jobs = source

    def set_queue_depth_source(self, source: PerQueueSource | None) -> None:
        """Feed `torchtutor_queue_depth{queue}`: jobs waiting for a worker, per queue."""
        self._queue_depth = source

    def set_workers_source(self, source: PerQueueSource | None) -> None:
        """Feed `torchtutor_workers{queue}`: live worker processes consuming each queue."""
        self._workers = source

    def render(self) -> bytes:
        """The Prometheus text exposition of every series (calls the sources: run it off the event loop)."""
        return generate_latest(self.registry)

    def _read(self, name: str, source: Callable[[], Mapping[K, float]] | None) -> Mapping[K, float]:
        if source is None:
            return {}
        try:
            return dict(source())
        except Exception as exc:  # a broken source must not take /metrics down with it
            log.warning("metrics source %s failed: %s", name, exc)
            with self._lock:
                self._source_errors[name] += 1
            return {}


class _SharedState:
    """The collector of the scrape-time series; families are always present, with samples when a source gives."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterator[Metric]:
        yield from _families()

    def collect(self) -> Iterator[Metric]:
        jobs, depth, workers, errors = _families()
        m = self._metrics
        for key, value in sorted(m._read("jobs", m._jobs).items(), key=str):
            demo, status = key
            jobs.add_metric([str(demo), str(status)], float(value))
        for queue, value in sorted(m._read("queue_depth", m._queue_depth).items(), key=str):
            depth.add_metric([str(queue)], float(value))
        for queue, value in sorted(m._read("workers", m._workers).items(), key=str):
            workers.add_metric([str(queue)], float(value))
        with m._lock:  # after the reads above, so a failure shows in the same scrape
            for name, count in sorted(m._source_errors.items()):
                errors.add_metric([name], float(count))
        yield from (jobs, depth, workers, errors)


def _families() -> tuple[CounterMetricFamily, GaugeMetricFamily, GaugeMetricFamily, CounterMetricFamily]:
    return (
        CounterMetricFamily("torchtutor_jobs", "Demo jobs by demo and status (from the job rows).",
                            labels=["demo", "status"]),
        GaugeMetricFamily("torchtutor_queue_depth", "Jobs waiting for a worker, per queue.", labels=["queue"]),
        GaugeMetricFamily("torchtutor_workers", "Live worker processes, per queue.", labels=["queue"]),
        CounterMetricFamily("torchtutor_metrics_source_errors", "Scrape-time metric sources that raised.",
                            labels=["source"]),
    )
