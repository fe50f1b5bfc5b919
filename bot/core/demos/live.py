"""Live demos as people see them: `/demo`, the Run and Cancel buttons, and a job's message as it runs.

`start_demo` validates, commits the job row, then hands the id to the backend; `follow` turns the job's events
into one message that is edited as progress arrives and ends with the result, the code that ran, its numbers
and its plots. Every adapter renders these replies; none of them knows a job exists. A follower holds a lease
on its job (bot.db.job_followers) and hands the job back when it stops early, so a process that starts later
picks the message up where it was (bot.core.demos.job_messages).
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import math
import shlex
import threading
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Any, Protocol

from sqlalchemy.orm import Session

from bot.core.conversation import Button, Image, Person, Progress, Reply, Request, new_reply_id
from bot.core.demos.snippet_replies import render_run_result
from bot.core.errors import BadInput, Forbidden, NotFound, QueueFull, TorchtutorError
from bot.db import repo
from bot.db.base import lease_owner
from bot.db.engine import Database
from bot.db.job_followers import JobFollowers, Orphan
from workers.demos import Demo, DemoParamError, UnknownDemo, get_demo, list_demos, validate_params
from workers.events import EventBus, watch
from workers.jobs import CANCELLED, FAILED, QUEUED, RESULT, SUCCEEDED, TIMED_OUT, JobEvent, JobResult, JobSpec
from workers.sandbox.job import RUN_JOB, SNIPPET
from workers.store import JobStore

log = logging.getLogger(__name__)

EDIT_INTERVAL_S = 1.0  # chat platforms rate-limit edits; one a second keeps a message lively and within limits
CODE_LIMIT = 1200
FIELD_LIMIT = 6
_CREATE_LOCK_KEY = 7_231_003  # PostgreSQL advisory lock: job creation (limits check + insert) one at a time


class UnknownDemoName(BadInput):
    """No demo has that name; the message suggests the nearest ones."""


class JobBackend(Protocol):
    """Runs jobs somewhere (local process pool, Celery) and carries their events back."""

    name: str
    bus: EventBus

    def start(self) -> None: ...

    def submit(self, spec: JobSpec) -> None: ...

    def cancel(self, job_id: str) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class JobLimits:
    """How many jobs one person may have queued or running, and how many may wait in all.

    Anonymous requests (the playground: a new cookie is a new "person") are counted per network address
    instead, and all of them together may hold at most `anonymous_share` of the queue, so people on the chat
    platforms and the API can always submit.
    """

    per_person: int = 2
    queue: int = 20
    anonymous_share: float = 0.25

    @property
    def anonymous(self) -> int:
        """Jobs anonymous visitors may have queued or running, all together."""
        return max(1, math.floor(self.queue * self.anonymous_share)) if self.anonymous_share > 0 else 0


@dataclass(frozen=True)
class StartedJob:
    """A job whose row is committed and whose id is with the backend."""

    job_id: str
    demo: Demo
    params: dict[str, Any]
    message_ref: str | None = None


class DemoJobs:
    """The `/demo` command, the `demo:run:<name>` and `job:cancel:<id>` buttons, and the job use cases."""

    def __init__(self, database: Database, backend: JobBackend, *, limits: JobLimits | None = None,
                 edit_interval: float = EDIT_INTERVAL_S, poll_s: float = 1.0,
                 followers: JobFollowers | None = None) -> None:
        self.database = database
        self.backend = backend
        self.store = JobStore(database)
        self.followers = followers or JobFollowers(database, lease_owner())
        self.limits = limits or JobLimits()
        self.edit_interval = edit_interval
        self.poll_s = poll_s
        self._create_lock = threading.Lock()
        self._stops: set[asyncio.Event] = set()

    # --- chat faces ----------------------------------------------------------------------------------------

    async def command(self, request: Request) -> AsyncIterator[Reply]:
        """`/demo` or `/demo list`: the catalogue; `/demo NAME key=value ...`: run it and follow it."""
        words = request.text.strip()
        if words.lower() in ("", "list", "help"):
            yield render_catalogue(list_demos())
            return
        name, raw = parse_demo_args(words)
        async for reply in self.run_and_follow(request, name, raw):
            yield reply

    async def run_action(self, request: Request) -> AsyncIterator[Reply]:
        """The `demo:run:<name>` button: run the demo with its default parameters."""
        name = (request.action or "").split(":", 2)[-1]
        if not name:
            raise BadInput("That demo button is malformed.")
        async for reply in self.run_and_follow(request, name, {}):
            yield reply

    async def job_action(self, request: Request) -> Reply:
        """The `job:cancel:<job_id>` button."""
        parts = (request.action or "").split(":")
        if len(parts) != 3 or parts[1] != "cancel" or not parts[2]:
            raise BadInput("That job button is malformed.")
        await asyncio.to_thread(self.cancel_job, parts[2], request.user, request.platform)
        return Reply("Cancelling the demo…", ephemeral=True, kind="job_cancel")

    async def run_and_follow(self, request: Request, name: str, raw: dict[str, Any]) -> AsyncIterator[Reply]:
        """Start a demo for the request's person, then its message and every edit of it."""
        message_ref = new_reply_id()
        started = await asyncio.to_thread(self.start_demo, request, name, raw, message_ref=message_ref)
        async for reply in self.follow(started):
            yield reply

    # --- use cases -----------------------------------------------------------------------------------------

    def start_demo(self, request: Request, name: str, raw: dict[str, Any], *,
                   message_ref: str | None = None) -> StartedJob:
        """Validate, commit the queued job row, then submit its id; refuses with BadInput or QueueFull."""
        demo = resolve_demo(name)
        try:
            params = validate_params(demo, raw)
        except DemoParamError as exc:
            raise BadInput(f"{demo.name}: {exc}") from None
        return self.start_job(request, demo, params, queue=demo.queue_for(params), time_limit_s=demo.time_limit_s,
                              message_ref=message_ref)

    def start_job(self, request: Request, demo: Demo, params: dict[str, Any], *, queue: str, time_limit_s: float,
                  message_ref: str | None = None) -> StartedJob:
        """Commit a queued job row within the per-person and queue limits, then submit its id (demos and runs)."""
        with self._create_lock, self.database.transaction() as session:
            repo.hold_lock(session=session, key=_CREATE_LOCK_KEY)  # other processes create jobs too
            user = repo.get_or_create_user(session=session, platform=request.platform,
                                           platform_user_id=request.user.platform_id, display_name=request.user.name)
            channel = repo.get_or_create_channel(session=session, platform=request.platform,
                                                 workspace_id=request.workspace_id,
                                                 platform_channel_id=request.channel_id, name=request.channel_name)
            self._check_limits(session, request, user.id)
            job_id = self.store.insert(session=session, demo=demo.name, params=params, queue=queue,
                                       backend=self.backend.name, time_limit_s=time_limit_s,
                                       platform=request.platform, user_id=user.id, channel_id=channel.id,
                                       message_ref=message_ref, origin=request.origin or None)
        spec = JobSpec(job_id=job_id, demo=demo.name, params=params, time_limit_s=time_limit_s, queue=queue)
        try:
            self.backend.submit(spec)
        except Exception as exc:
            log.exception("could not submit job %s to the %s backend", job_id, self.backend.name)
            self.store.finish(job_id, FAILED, error=f"the job queue could not be reached ({type(exc).__name__})")
            raise TorchtutorError("Sorry, the demo workers can't be reached right now. Try again in a minute.") \
                from None
        log.debug("job %s: %s %s for %s/%s", job_id, demo.name, params, request.platform, request.user.platform_id)
        return StartedJob(job_id, demo, params, message_ref)

    def _check_limits(self, session: Session, request: Request, user_id: int) -> None:
        """Refuse with QueueFull when the person (or, for anonymous requests, their address and all anonymous
        requests together) or the whole queue already has as many jobs as allowed."""
        if request.origin:
            if self.store.count_active(session=session, origin=request.origin) >= self.limits.per_person:
                raise QueueFull(self.limits.per_person, scope="address")
            if self.store.count_active(session=session, anonymous=True) >= self.limits.anonymous:
                raise QueueFull(self.limits.anonymous, scope="anonymous")
        elif self.store.count_active(session=session, user_id=user_id) >= self.limits.per_person:
            raise QueueFull(self.limits.per_person, scope="person")
        if self.store.count_waiting(session=session) >= self.limits.queue:
            raise QueueFull(self.limits.queue, scope="queue")

    def cancel_job(self, job_id: str, user: Person, platform: str) -> None:
        """Cancel a queued or running job; only its requester or an admin may."""
        snapshot = self.store.get(job_id)
        if snapshot is None:
            raise NotFound("I can't find that demo job any more.")
        is_requester = snapshot.requester == user.platform_id and snapshot.requester_platform == platform
        if not (is_requester or user.is_admin):
            raise Forbidden("Sorry, only the person who started this demo (or an admin) can cancel it.")
        if snapshot.terminal or not self.store.cancel(job_id, reason=f"cancelled by {user.name or user.platform_id}"):
            status = (self.store.get(job_id) or snapshot).status
            raise BadInput(f"That demo has already finished ({_STATUS_WORDS.get(status, status)}), "
                           "so there is nothing to cancel.")
        self.backend.bus.publish(JobEvent(job_id, RESULT, CANCELLED))
        self.backend.cancel(job_id)

    def events(self, job_id: str) -> AsyncIterator[JobEvent]:
        """The job's state now, then live events, ending with its result (UnknownJob if there is no such job)."""
        return watch(job_id, self.store, self.backend.bus, poll_s=self.poll_s)

    async def follow(self, started: StartedJob, *, resumed: bool = False) -> AsyncGenerator[Reply, None]:
        """The job's message: first as queued, then edits (about one a second) until the final result.

        `resumed`: the message is already on screen (posted before a restart); only edits of it are yielded.
        """
        is_run = started.demo.name == RUN_JOB
        shown_params = None if is_run else started.params  # a snippet shows its own output, not its code again
        first = Reply(render_status(shown_params, QUEUED, 0.0, ""), title=started.demo.title,
                      buttons=(Button(f"job:cancel:{started.job_id}", "Cancel", style="danger"),), kind="job",
                      id=started.message_ref or new_reply_id(), progress=Progress(0.0, QUEUED))
        shown = None
        if not resumed:
            yield first
            shown = first.text
        finished = False
        try:
            events = self._while_followed(started.job_id, self.events(started.job_id))
            async for event in throttle(events, self.edit_interval):
                if event.kind == RESULT and event.result is not None:
                    finished = True
                    final = (render_run_result(first, event.result) if is_run
                             else render_result(first, started.demo, started.params, event.result))
                    yield replace(final, progress=Progress(1.0, event.result.status, done=True))
                    await asyncio.to_thread(self.followers.delivered, started.job_id)
                    return
                body = render_status(shown_params, event.status, event.progress, event.stage, event.position)
                if body != shown:
                    shown = body
                    yield first.edit(text=body, progress=Progress(event.progress, event.stage or event.status))
        finally:
            if not finished:
                # Synchronous on purpose: this also runs while the task is being cancelled at shutdown.
                self.followers.hand_back(started.job_id)

    def resumed(self, orphan: Orphan) -> StartedJob:
        """A claimed orphan as a job to follow (UnknownDemoName if this process lacks its demo)."""
        demo = SNIPPET if orphan.demo == RUN_JOB else resolve_demo(orphan.demo)
        return StartedJob(orphan.job_id, demo, orphan.params, orphan.message_ref)

    def hand_back(self) -> None:
        """Stop following every job's message now (shutdown); each job goes back for any process to pick up."""
        for stop in list(self._stops):
            stop.set()

    async def _while_followed(self, job_id: str, events: AsyncIterator[JobEvent]) -> AsyncIterator[JobEvent]:
        """The job's events while this process keeps its lease: renewed on the way, ended by `hand_back` or by
        another process taking the job over (this one stalled past its lease)."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        self._stops.add(stop)
        queue, pumping = pump(events)
        stopping = asyncio.create_task(stop.wait())
        renew_every = self.followers.lease.total_seconds() / 3
        renew_at = loop.time() + renew_every
        try:
            while True:
                getting = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({getting, stopping}, timeout=max(0.0, renew_at - loop.time()),
                                             return_when=asyncio.FIRST_COMPLETED)
                if getting not in done:
                    getting.cancel()
                if stopping in done:
                    log.info("job %s handed back: another process will keep its message current", job_id)
                    return
                if loop.time() >= renew_at:
                    renew_at = loop.time() + renew_every
                    if not await asyncio.to_thread(self.followers.keep, job_id):
                        log.warning("job %s is followed by another process now; this one stops", job_id)
                        return
                if getting not in done:
                    continue
                event = getting.result()
                if event is None:
                    await pumping  # re-raises what stopped the source, if anything did
                    return
                yield event
        finally:
            self._stops.discard(stop)
            for task in (stopping, pumping):
                task.cancel()
            with suppress(asyncio.CancelledError):
                await pumping


def pump(events: AsyncIterator[JobEvent]) -> tuple[asyncio.Queue[JobEvent | None], asyncio.Task[None]]:
    """A task moving the events into a queue, None last, so a reader can wait on them and on other things."""
    queue: asyncio.Queue[JobEvent | None] = asyncio.Queue()

    async def move() -> None:
        try:
            async for event in events:
                queue.put_nowait(event)
        finally:
            queue.put_nowait(None)

    return queue, asyncio.create_task(move())


async def throttle(events: AsyncIterator[JobEvent], interval: float) -> AsyncIterator[JobEvent]:
    """At most one event per `interval` seconds, the latest of those in between; the result comes through at once."""
    loop = asyncio.get_running_loop()
    queue, task = pump(events)
    try:
        last_sent = -math.inf
        pending: JobEvent | None = None
        while True:
            wait = None if pending is None else max(0.0, last_sent + interval - loop.time())
            try:
                event = await asyncio.wait_for(queue.get(), wait)
                due = event is not None and (event.kind == RESULT or loop.time() - last_sent >= interval)
            except TimeoutError:  # the interval is over: show the latest event held back
                event, pending, due = pending, None, True
            if event is None:  # the source ended
                await task  # re-raises what stopped it, if anything did
                return
            if not due:
                pending = event
                continue
            last_sent, pending = loop.time(), None
            yield event
            if event.kind == RESULT:
                return
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


# --- parsing ---------------------------------------------------------------------------------------------------


def parse_demo_args(words: str) -> tuple[str, dict[str, str]]:
    """`NAME key=value ...` as the demo name and raw parameters; `x=1, 2, 3` keeps its spaces."""
    try:
        tokens = shlex.split(words)
    except ValueError as exc:
        raise BadInput(f"I couldn't read that ({exc}). Use `/demo NAME key=value ...`.") from None
    name, raw = tokens[0], {}
    key = None
    for token in tokens[1:]:
        found, sep, value = token.partition("=")
        if sep and found.strip():
            key = found.strip()
            if key in raw:
                raise BadInput(f"Parameter `{key}` is given twice.")
            raw[key] = value
        elif key is not None:  # a value with spaces in it: x=1, 2, 3
            raw[key] = f"{raw[key]} {token}"
        else:
            raise BadInput(f"Expected key=value after the demo name, got `{token}`. "
                           "Example: `/demo train-tiny steps=100 lr=0.01`.")
    return name, raw


def resolve_demo(name: str) -> Demo:
    """The demo called `name`, or UnknownDemoName suggesting the nearest names."""
    try:
        return get_demo(name)
    except UnknownDemo as exc:
        close = difflib.get_close_matches(name.strip().lower().replace("_", "-"), exc.known, n=3, cutoff=0.5)
        hint = (f"Did you mean {' or '.join(f'`{c}`' for c in close)}?" if close
                else f"Try one of: {', '.join(f'`{k}`' for k in exc.known)}.")
        raise UnknownDemoName(f"I don't know a demo called `{name[:60]}`. {hint} `/demo list` shows them all.") \
            from None


# --- rendering -------------------------------------------------------------------------------------------------

_STATUS_WORDS = {SUCCEEDED: "it succeeded", FAILED: "it failed", CANCELLED: "it was cancelled",
                 TIMED_OUT: "it timed out"}


def render_catalogue(demos: list[Demo]) -> Reply:
    """The list of demos, one button each."""
    lines = [f"• `{demo.name}`: {demo.summary}" for demo in demos]
    lines.append("\nRun one with `/demo NAME key=value ...` (for example `/demo backward-pass x=1,2,3`), "
                 "or press a button.")
    buttons = tuple(Button(f"demo:run:{demo.name}", demo.title, style="primary") for demo in demos)
    return Reply("\n".join(lines), title="Live PyTorch demos", buttons=buttons, kind="demo_list")


def progress_bar(fraction: float, width: int = 12) -> str:
    """`███████░░░░░ 58%`."""
    fraction = min(1.0, max(0.0, fraction))
    filled = round(fraction * width)
    return "█" * filled + "░" * (width - filled) + f" {fraction:.0%}"


def render_params(params: dict[str, Any]) -> str:
    """The parameters as the person could type them again."""
    if not params:
        return "No parameters."
    return "Parameters: " + " ".join(f"`{key}={_value(value)}`" for key, value in params.items())


def render_status(params: dict[str, Any] | None, status: str, progress: float, stage: str,
                  position: int | None = None) -> str:
    """The body of a job's message while it is queued (with its place in line, when known) or running
    (`params` None: no parameters line)."""
    head = "" if params is None else f"{render_params(params)}\n"
    if status == QUEUED:
        return f"{head}⏳ Queued: {in_line(position)}."
    return f"{head}`{progress_bar(progress)}` {stage or 'running'}".rstrip()


def in_line(position: int | None) -> str:
    """ "next in line", "3rd in line" (1 is next), or the plain wait when the place is unknown."""
    if position is None:
        return "waiting for a free worker"
    if position <= 1:
        return "next in line"
    suffix = "th" if 11 <= position % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(position % 10, "th")
    return f"{position}{suffix} in line"


def render_result(first: Reply, demo: Demo, params: dict[str, Any], result: JobResult) -> Reply:
    """The final edit: result text, the code that ran, key numbers as fields, plots; no buttons."""
    if result.status == SUCCEEDED:
        body = f"{result.text}\n\n**The code that ran**\n```python\n{shorten_code(result.code)}```"
        fields = _fields(result)
        images = tuple(Image(png, filename=f"{demo.name}-{n + 1}.png") for n, png in enumerate(result.images))
    else:
        headline = {FAILED: "❌ **Failed**", TIMED_OUT: "⏱️ **Timed out**", CANCELLED: "🚫 **Cancelled**"}
        body = f"{render_params(params)}\n{headline.get(result.status, result.status)}: {result.error or 'no reason'}"
        fields, images = (), ()
    return first.edit(text=body, fields=fields, images=images, buttons=(), kind="job_result")


def shorten_code(code: str, limit: int = CODE_LIMIT) -> str:
    """The code, cut at a line boundary to fit a chat message, saying how much was left out."""
    if len(code) <= limit:
        return code if code.endswith("\n") else code + "\n"
    lines, kept, size = code.splitlines(), [], 0
    for line in lines:
        if size + len(line) + 1 > limit:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept) + f"\n# … {len(lines) - len(kept)} more lines\n"


def _fields(result: JobResult) -> tuple[tuple[str, str], ...]:
    fields = [("Device", result.device or "?")]
    if result.seconds is not None:
        fields.append(("Run time", f"{result.seconds:.2f} s"))
    for key, value in result.metrics.items():
        if len(fields) >= FIELD_LIMIT + 2:
            break
        if key == "device" or value is None or isinstance(value, dict | list):
            continue
        shown = _value(value)
        if len(shown) <= 40:
            fields.append((key, shown))
    return tuple(fields)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ",".join(_value(item) for item in value)
    return str(value)


# --- contract JSON (demo run --json, the HTTP API and its SSE) --------------------------------------------------


def progress_json(event: JobEvent) -> dict[str, Any]:
    """`{"event": "progress", "job_id", "progress", "stage"}`, plus `"position"` (1 = next) while queued."""
    data: dict[str, Any] = {"event": "progress", "job_id": event.job_id, "progress": round(event.progress, 4),
                            "stage": event.stage or event.status}
    if event.status == QUEUED and event.position is not None:
        data["position"] = event.position
    return data


def result_json(result: JobResult, images: list[str]) -> dict[str, Any]:
    """`{"event": "result", "job_id", "status", "device", "text", "code", "images", "metrics", "error"}`."""
    return {"event": "result", "job_id": result.job_id, "status": result.status, "device": result.device,
            "text": result.text, "code": result.code, "images": images, "metrics": result.metrics,
            "error": result.error}
