"""`torchtutor study tick`: one step of the study scheduler, for cron jobs and tests."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

from bot.cli.output import emit, emit_json
from bot.cli.parser import UsageError
from bot.config import get_settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `study` command group."""
    parser = commands.add_parser("study", help="study channels: scheduled questions")
    actions = parser.add_subparsers(dest="study_command", metavar="ACTION", required=True)
    tick = actions.add_parser("tick", help="close rounds whose window passed and post due questions, once")
    tick.add_argument("--now", help="the moment to tick at, ISO 8601 (default: now; naive times are UTC)")
    tick.add_argument("--json", action="store_true", help="one JSON object per post, then a summary")
    tick.set_defaults(func=run_tick)


def parse_now(text: str | None) -> datetime | None:
    """The --now moment, timezone-aware."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--now: not an ISO 8601 time: {text!r} (e.g. 2026-03-02T09:00:00Z)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


class _Printer:
    """The poster of this command: prints each post of the terminal's channels."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.count = 0

    async def post(self, platform: str, workspace_id: str, channel_id: str, reply) -> None:  # type: ignore[no-untyped-def]
        from bot.adapters.console import render_text

        self.count += 1
        buttons = [{"id": b.id, "label": b.label} for b in reply.buttons]
        if self.as_json:
            emit_json({"event": "post", "platform": platform, "workspace_id": workspace_id, "channel_id": channel_id,
                       "kind": reply.kind, "text": render_text(reply), "buttons": buttons})
        else:
            emit(f"[{platform} {channel_id}] {render_text(reply)}")
            for button in buttons:
                emit(f"  [{button['id']}] {button['label']}")


def run_tick(args: argparse.Namespace) -> int:
    """One scheduler tick for the terminal's channels (Discord and Slack ones are left to `torchtutor run`)."""
    from bot.adapters.console import PLATFORM
    from bot.runtime import build_runtime

    now = parse_now(args.now)
    runtime = build_runtime(get_settings())
    runtime.require_schema()
    # The index alone, not runtime.start(): with a warm embedding cache a tick never loads the model.
    runtime.knowledge.reload()
    printer = _Printer(args.json)
    runtime.outbox.register(PLATFORM, printer)
    assert runtime.quizzes is not None
    asyncio.run(runtime.quizzes.study.study_tick(now))
    runtime.close()
    if args.json:
        emit_json({"event": "tick", "posts": printer.count})
    else:
        emit(f"study tick: {printer.count} post(s)")
    return 0
