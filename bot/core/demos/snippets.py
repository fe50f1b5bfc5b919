"""`/run`: a learner's own snippet, run on the worker pool in the sandbox, its result in one message as demos do.

Off unless the operator sets TORCHTUTOR_RUN_ENABLED and a channel admin turns it on in the channel
(`/run on|off|status`); the terminal's channels count as turned on. Runs share the demos' per-person and queue
limits, and each is a job row: who, where, the code's SHA-256 and how it ended.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from bot.core.conversation import Reply, Request, new_reply_id
from bot.core.demos.live import DemoJobs, StartedJob
from bot.core.errors import BadInput, TorchtutorError
from bot.core.identity import switch_here
from bot.db import channel_switches
from bot.db.engine import Database
from bot.db.run_models import RunChannel
from workers.sandbox.job import CODE_LIMIT, SNIPPET, STARTUP_S, snippet_params

OPTED_IN_PLATFORMS = ("console",)  # the person at the terminal runs the bot: its channels count as turned on
_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n?(.*?)```", re.DOTALL | re.IGNORECASE)
USAGE = ("Run your own PyTorch code in the sandbox: `/run CODE`, or a code block:\n```\n/run\n```python\n"
         "import torch\nprint(torch.randn(2, 2))\n```\n```\nChannel admins turn it on or off with `/run on` / "
         "`/run off`; `/run status` says where it stands.")
SANDBOX_RECHECK_S = 60.0


class RunUnavailable(TorchtutorError):
    """`/run` cannot run anything here now; the message says why in one line."""

RUN_SWITCH_REFUSED = "Sorry, only someone who can manage this channel can turn `/run` on or off here."

@dataclass(frozen=True)
class RunSettings:
    """The operator's switch and the job's shape."""

    enabled: bool = False
    time_limit_s: float = 10.0
    queue: str = "gpu"


class SandboxGate:
    """Whether the sandbox works where the jobs run: the reason it does not, or None; failures are checked again
    after a minute (an operator may install bubblewrap meanwhile), success is kept."""

    def __init__(self, check: Callable[[], None] | None) -> None:
        self._check, self._lock = check, threading.Lock()
        self._ok, self._reason, self._checked_at = False, "", -SANDBOX_RECHECK_S

    def problem(self) -> str | None:
        if self._check is None or self._ok:
            return None
        with self._lock:
            if not self._ok and time.monotonic() - self._checked_at >= SANDBOX_RECHECK_S:
                from workers.sandbox import SandboxUnavailable

                try:
                    self._check()
                    self._ok = True
                except SandboxUnavailable as exc:
                    self._reason = exc.reason
                self._checked_at = time.monotonic()
        return None if self._ok else self._reason


class SnippetRuns:
    """The `/run` command: opt-in switches, then a sandboxed job followed in one message."""

    def __init__(self, database: Database, demos: DemoJobs, settings: RunSettings, *,
                 sandbox: SandboxGate | None = None) -> None:
        self.database, self.demos, self.settings = database, demos, settings
        self.sandbox = sandbox or SandboxGate(None)

    async def command(self, request: Request) -> AsyncIterator[Reply]:
        """`/run on|off|status`, `/run` (usage), or `/run CODE`."""
        words = request.text.strip()
        switch = words.lower()
        if switch in ("on", "off", "status"):
            yield await asyncio.to_thread(self.switch, request, switch)
            return
        if switch in ("", "help"):
            yield Reply(USAGE, title="/run", ephemeral=True, kind="run_help")
            return
        code = extract_code(words)
        await asyncio.to_thread(self.refuse_if_unavailable, request)
        started = await asyncio.to_thread(self.start_run, request, code, message_ref=new_reply_id())
        async for reply in self.demos.follow(started):
            yield reply

    def switch(self, request: Request, word: str) -> Reply:
        """`/run on|off|status` in this channel; on and off are for the channel's admins."""
        with self.database.transaction() as session:
            on_here = switch_here(session, request, RunChannel, word, RUN_SWITCH_REFUSED)
        on_here = on_here or request.platform in OPTED_IN_PLATFORMS
        return Reply(self._status_text(on_here), kind="run_status")

    def refuse_if_unavailable(self, request: Request) -> None:
        """RunUnavailable with the one-line reason when a run cannot start here (nothing is queued then)."""
        if not self.settings.enabled:
            raise RunUnavailable("`/run` is switched off on this bot (its operator can set "
                                 "TORCHTUTOR_RUN_ENABLED=true).")
        if request.platform not in OPTED_IN_PLATFORMS:
            with self.database.session() as session:
                on_here = channel_switches.is_on_at(session=session, switch=RunChannel, platform=request.platform,
                                                    workspace_id=request.workspace_id,
                                                    platform_channel_id=request.channel_id)
            if not on_here:
                raise RunUnavailable("`/run` is not turned on in this channel; a channel admin can turn it on with "
                                     "`/run on`.")
        problem = self.sandbox.problem()
        if problem:
            raise RunUnavailable(f"`/run` is unavailable: {problem}.")

    def start_run(self, request: Request, code: str, *, message_ref: str | None = None) -> StartedJob:
        """Queue the snippet as a job within the demos' limits (QueueFull past them)."""
        return self.demos.start_job(request, SNIPPET, snippet_params(code), queue=self.settings.queue,
                                    time_limit_s=self.settings.time_limit_s + STARTUP_S, message_ref=message_ref)

    def _status_text(self, on_here: bool) -> str:
        here = "on" if on_here else "off"
        text = f"`/run` is **{here}** in this channel."
        if not self.settings.enabled:
            text += " It is switched off on this whole bot, though (TORCHTUTOR_RUN_ENABLED)."
        return text


def extract_code(text: str) -> str:
    """The snippet: the first fenced code block if there is one (a `python` tag dropped), else the text."""
    found = _FENCE.search(text)
    code = found.group(1) if found else text.strip().strip("`")
    code = code.strip("\n")
    if not code.strip():
        raise BadInput("There is no code to run. Put it after `/run`, or in a ```python code block.")
    if len(code) > CODE_LIMIT:
        raise BadInput(f"That snippet is {len(code)} characters long; `/run` takes up to {CODE_LIMIT}.")
    return code + "\n"
