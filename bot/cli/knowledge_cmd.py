"""`torchtutor knowledge check`: parse knowledge files and report what was found."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.cli.output import emit, emit_json
from bot.cli.parser import UsageError


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `knowledge` command group."""
    parser = commands.add_parser("knowledge", help="inspect knowledge files")
    actions = parser.add_subparsers(dest="knowledge_command", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="parse knowledge files and report entries and warnings")
    check.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(func=check_paths)


def check_paths(args: argparse.Namespace) -> int:
    """Report entries and warnings per file."""
    from knowledge.loader import load_paths

    try:
        reports = load_paths(args.paths)
    except FileNotFoundError as exc:
        raise UsageError(f"not found: {exc.filename or exc}") from None
    files = [{"path": r.path, "entries": len(r.entries), "warnings": list(r.warnings)} for r in reports]
    report = {"files": files, "total_entries": sum(f["entries"] for f in files)}
    if args.json:
        emit_json(report)
        return 0
    for item in files:
        emit(f"{item['path']}: {item['entries']} entries, {len(item['warnings'])} warnings")
        for warning in item["warnings"]:
            emit(f"  warning: {warning}")
    emit(f"total: {report['total_entries']} entries")
    return 0
