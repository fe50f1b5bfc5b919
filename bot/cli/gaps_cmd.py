"""`torchtutor gaps`: declined, low-confidence and 👎 questions grouped by meaning, most asked first."""

from __future__ import annotations

import argparse
import getpass
from typing import Any

from bot.cli.output import emit, emit_json
from bot.cli.parser import UsageError


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `gaps` command."""
    parser = commands.add_parser("gaps", help="knowledge gaps: questions the bot could not answer well, grouped")
    parser.add_argument("--json", action="store_true", help="print the gaps as one JSON object")
    parser.add_argument("--since", type=float, metavar="DAYS", help="only questions asked in the last DAYS days")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="show at most N gaps")
    mark = parser.add_mutually_exclusive_group()
    mark.add_argument("--dismiss", metavar="KEY", help="take gap KEY off the list: not worth an entry")
    mark.add_argument("--resolve", metavar="KEY", help="take gap KEY off the list: an entry now covers it")
    parser.add_argument("--by", help="who marks the gap (default: your login name)")
    parser.add_argument("--note", default="", help="a note kept with the mark")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """List the gaps, or mark one."""
    from bot.config import get_settings
    from bot.core.errors import BadInput, NotFound
    from bot.runtime import build_runtime

    if args.since is not None and args.since <= 0:
        raise UsageError("--since needs a positive number of days")
    if args.limit is not None and args.limit <= 0:
        raise UsageError("--limit needs a positive number")
    runtime = build_runtime(get_settings(), batch_encodes=False)
    runtime.require_schema()
    runtime.start()
    try:
        key, status = (args.dismiss, "dismissed") if args.dismiss else (args.resolve, "resolved")
        if key:
            try:
                count = runtime.gaps.mark(key, status=status, by=args.by or _login(), note=args.note,
                                          since_days=args.since)
            except (BadInput, NotFound) as exc:
                raise UsageError(str(exc)) from None
            if args.json:
                emit_json({"key": key, "status": status, "questions": count})
            else:
                emit(f"{key}: {status} ({count} questions)")
            return 0
        gaps = runtime.gaps.gaps(since_days=args.since, limit=args.limit)
    finally:
        runtime.close()
    if args.json:
        emit_json({"since_days": args.since, "gaps": [gap.to_json() for gap in gaps]})
        return 0
    emit(_human([gap.to_json() for gap in gaps]))
    return 0


def _human(gaps: list[dict[str, Any]]) -> str:
    if not gaps:
        return "no knowledge gaps: every recorded question was answered confidently (or marked)"
    lines = []
    for gap in gaps:
        reasons = ", ".join(f"{n} {why.replace('_', ' ')}" for why, n in gap["reasons"].items())
        lines.append(f"{gap['key']}  asked {gap['asked']}x by {gap['people']} people, last {gap['last_asked'][:16]} "
                     f"({reasons})")
        lines.append(f"  {gap['question']}")
        for example in gap["examples"]:
            if example != gap["question"]:
                lines.append(f"    also: {example}")
        nearest = gap["nearest_entry"]
        if nearest:
            lines.append(f"    nearest entry: {nearest['entry_id']} ({nearest['score']:.2f})")
    lines.append(f"\n{len(gaps)} gaps; mark one with --dismiss KEY or --resolve KEY")
    return "\n".join(lines)


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"
