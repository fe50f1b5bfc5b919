"""`torchtutor knowledge check`: parse knowledge files and quiz files and report what was found."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from bot.cli.output import emit, emit_json
from bot.cli.parser import UsageError

QUIZ_SUFFIXES = (".yaml", ".yml")


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `knowledge` command group."""
    parser = commands.add_parser("knowledge", help="inspect knowledge files")
    actions = parser.add_subparsers(dest="knowledge_command", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="parse knowledge (.md) and quiz (.yaml) files; report entries, items "
                                             "and warnings")
    check.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(func=check_paths)


def check_paths(args: argparse.Namespace) -> int:
    """Report entries (knowledge files) or items (quiz files) and warnings per file."""
    from knowledge.loader import load_paths

    for path in args.paths:
        if not path.exists():
            raise UsageError(f"not found: no such file or folder: {path}")
    documents = [path for path in args.paths if not _is_quiz_file(path)]
    try:
        reports = load_paths(documents) if documents else []
    except FileNotFoundError as exc:
        raise UsageError(f"not found: {exc.filename or exc}") from None
    files = [{"path": r.path, "entries": len(r.entries), "warnings": list(r.warnings)} for r in reports]
    quiz_files = _quiz_files(args.paths)
    quiz_reports = _check_quizzes(quiz_files, {entry.id for r in reports for entry in r.entries})
    report = {"files": files + quiz_reports,
              "total_entries": sum(f["entries"] for f in files + quiz_reports),
              "total_items": sum(f["entries"] for f in quiz_reports)}
    if args.json:
        emit_json(report)
        return 0
    quiz_paths = {f["path"] for f in quiz_reports}
    for item in report["files"]:
        noun = "items" if item["path"] in quiz_paths else "entries"
        emit(f"{item['path']}: {item['entries']} {noun}, {len(item['warnings'])} warnings")
        for warning in item["warnings"]:
            emit(f"  warning: {warning}")
    emit(f"total: {report['total_entries'] - report['total_items']} entries, {report['total_items']} quiz items")
    return 0


def _is_quiz_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in QUIZ_SUFFIXES


def _quiz_files(paths: list[Path]) -> list[Path]:
    """The quiz files named, and those in named folders (sorted, each once)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in QUIZ_SUFFIXES)
        elif _is_quiz_file(path):
            found.append(path)
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def _check_quizzes(files: list[Path], given_entries: set[str]) -> list[dict[str, Any]]:
    """Quiz files validated against the entries given plus the bundled and configured knowledge."""
    if not files:
        return []
    from knowledge.quiz_bank import load_bank

    known = given_entries | _default_entry_ids()
    bank_log = logging.getLogger("knowledge.quiz_bank")
    level = bank_log.level
    bank_log.setLevel(logging.ERROR)  # the warnings are in the report; logging them too would print them twice
    try:
        bank = load_bank(files, known_entry_ids=known)
    finally:
        bank_log.setLevel(level)
    return [{"path": r.path, "entries": len(r.items), "warnings": [_where(w) for w in r.warnings]}
            for r in bank.files]


def _default_entry_ids() -> set[str]:
    from bot.config import get_settings
    from bot.runtime import knowledge_paths
    from knowledge.loader import load_entries

    paths = [p for p in knowledge_paths(get_settings()) if p.exists()]
    return {entry.id for entry in load_entries(paths)}


def _where(warning: Any) -> str:
    """A bank warning without its file path (the report already names the file)."""
    where = f"item #{warning.index + 1}" if warning.index is not None else ""
    if warning.item:
        where += f" ({warning.item})"
    return f"{where}: {warning.message}" if where else warning.message
