"""`torchtutor knowledge`: check knowledge and quiz files; add, edit, delete and list admin entries with history."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bot.cli.output import emit, emit_json
from bot.cli.parser import CommandFailed, UsageError

if TYPE_CHECKING:  # the CLI imports the core on use, so that `--help` stays fast
    from bot.core.admin.entries import KnowledgeAdmin

T = TypeVar("T")

QUIZ_SUFFIXES = (".yaml", ".yml")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `knowledge` command group."""
    parser = commands.add_parser("knowledge", help="check knowledge files; add, edit and delete entries")
    actions = parser.add_subparsers(dest="knowledge_command", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="parse knowledge (.md) and quiz (.yaml) files; report entries, items "
                                             "and warnings")
    check.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--no-calibration", action="store_true",
                       help="only parse: skip fitting the answer thresholds (which loads the model)")
    check.set_defaults(func=check_paths)

    add = actions.add_parser("add", help="add an entry to the database (a running bot picks it up in seconds)")
    add.add_argument("--question", required=True, help="the question the entry answers")
    _answer_options(add, required=True)
    add.add_argument("--alias", action="append", default=[], metavar="TEXT", help="another phrasing (repeatable)")
    add.add_argument("--tag", action="append", default=[], metavar="TAG", help="a tag (repeatable)")
    add.add_argument("--demo", metavar="NAME", help="the demo the answer offers")
    add.add_argument("--id", dest="entry_id", metavar="ID", help="the entry id (default: from the question)")
    _common(add)
    add.set_defaults(func=add_entry)

    edit = actions.add_parser("edit", help="change fields of an entry (document entries get a stored override)")
    edit.add_argument("entry_id", metavar="ID")
    edit.add_argument("--question", help="new question")
    _answer_options(edit, required=False)
    edit.add_argument("--alias", action="append", metavar="TEXT", help="replace the other phrasings (repeatable)")
    edit.add_argument("--no-aliases", action="store_true", help="remove every other phrasing")
    edit.add_argument("--tag", action="append", metavar="TAG", help="replace the tags (repeatable)")
    edit.add_argument("--no-tags", action="store_true", help="remove every tag")
    edit.add_argument("--demo", metavar="NAME", help="offer this demo")
    edit.add_argument("--no-demo", action="store_true", help="offer no demo")
    edit.add_argument("--expect-version", type=int, metavar="N", help="fail if the stored version is not N")
    _common(edit)
    edit.set_defaults(func=edit_entry)

    delete = actions.add_parser("delete", help="take an entry out of the knowledge base (history is kept)")
    delete.add_argument("entry_id", metavar="ID")
    _common(delete)
    delete.set_defaults(func=delete_entry)

    revert = actions.add_parser("revert", help="save an earlier version of an entry as its newest")
    revert.add_argument("entry_id", metavar="ID")
    revert.add_argument("version", type=int, metavar="VERSION")
    _common(revert)
    revert.set_defaults(func=revert_entry)

    history = actions.add_parser("history", help="every stored version of an entry, newest first, with who")
    history.add_argument("entry_id", metavar="ID")
    history.add_argument("--json", action="store_true", help="one JSON array")
    history.set_defaults(func=entry_history)

    listing = actions.add_parser("list", help="every entry: id, source, version, question")
    listing.add_argument("--deleted", action="store_true", help="include deleted entries")
    listing.add_argument("--json", action="store_true", help="one JSON array")
    listing.set_defaults(func=list_entries)


def _answer_options(parser: argparse.ArgumentParser, required: bool) -> None:
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument("--answer", help="the answer (markdown)")
    group.add_argument("--answer-file", type=Path, metavar="FILE", help="read the answer from FILE (- for stdin)")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--by", help="who makes the change (default: your login name)")
    parser.add_argument("--json", action="store_true", help="print the saved version as JSON")


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
    entries = [entry for r in reports for entry in r.entries]
    if entries and not args.no_calibration:
        report["calibration"] = _calibration(entries).to_json()
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
    if "calibration" in report:
        c = report["calibration"]
        emit(f"thresholds: answer {c['answer']:.3f}, related {c['related']:.3f} ({c['reason']})")
    return 0


def _calibration(entries: list[Any]) -> Any:
    """The thresholds these entries alone would get (the embedding cache of the settings spares re-encoding)."""
    from bot.config import get_settings
    from knowledge.cache import EmbeddingCache, seed_directory
    from knowledge.calibration import calibrate
    from knowledge.embedder import get_embedder
    from knowledge.index import KnowledgeIndex

    encoder = get_embedder()
    settings = get_settings()
    seed = seed_directory() if settings.embedding_seed else None
    cache = EmbeddingCache(settings.cache_dir, encoder.name, seed_dir=seed)
    return calibrate(KnowledgeIndex.build(entries, encoder, cache), encoder, cache)


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
    from knowledge.quiz_kinds import UnknownKind

    known = given_entries | _default_entry_ids()
    bank_log = logging.getLogger("knowledge.quiz_bank")
    level = bank_log.level
    bank_log.setLevel(logging.ERROR)  # the warnings are in the report; logging them too would print them twice
    try:
        bank = load_bank(files, known_entry_ids=known)
    except UnknownKind as exc:  # the bot would refuse this bank, so the check does too
        raise UsageError(str(exc)) from None
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


def add_entry(args: argparse.Namespace) -> int:
    """Store a new entry."""
    from bot.core.admin.entries import EntryDraft

    admin = _admin()
    draft = _checked(lambda: EntryDraft.create(question=args.question, answer=_answer(args), aliases=args.alias,
                                               tags=args.tag, demo=args.demo))
    return _saved(args, _checked(lambda: admin.add(draft, by=_by(args), entry_id=args.entry_id)), "added")


def edit_entry(args: argparse.Namespace) -> int:
    """Change some fields of an entry."""
    changes: dict[str, Any] = {}
    if args.question is not None:
        changes["question"] = args.question
    if args.answer is not None or args.answer_file is not None:
        changes["answer"] = _answer(args)
    if args.no_aliases or args.alias:
        changes["aliases"] = [] if args.no_aliases else args.alias
    if args.no_tags or args.tag:
        changes["tags"] = [] if args.no_tags else args.tag
    if args.no_demo or args.demo:
        changes["demo"] = None if args.no_demo else args.demo
    if not changes:
        raise UsageError("nothing to change: give --question, --answer, --alias, --tag or --demo")
    admin = _admin()
    version = _checked(lambda: admin.edit(args.entry_id, by=_by(args), expected_version=args.expect_version,
                                          **changes))
    return _saved(args, version, "saved")


def delete_entry(args: argparse.Namespace) -> int:
    """Take an entry out of the knowledge base."""
    admin = _admin()
    return _saved(args, _checked(lambda: admin.delete(args.entry_id, by=_by(args))), "deleted")


def revert_entry(args: argparse.Namespace) -> int:
    """Save an earlier version as the newest."""
    admin = _admin()
    return _saved(args, _checked(lambda: admin.revert(args.entry_id, args.version, by=_by(args))), "reverted")


def entry_history(args: argparse.Namespace) -> int:
    """Every stored version of an entry."""
    admin = _admin()
    versions = _checked(lambda: admin.history(args.entry_id))
    if args.json:
        emit_json([v.to_json() for v in versions])
        return 0
    if not versions:
        emit(f"{args.entry_id}: a document entry, never edited")
    for v in versions:
        what = "deleted" if v.deleted else v.question
        emit(f"v{v.version}  {v.changed_at:%Y-%m-%d %H:%M:%S}  {v.changed_by}  {what}")
    return 0


def list_entries(args: argparse.Namespace) -> int:
    """Every entry with its source and stored version."""
    admin = _admin()
    infos = admin.list(include_deleted=args.deleted)
    if args.json:
        emit_json([info.to_json() for info in infos])
        return 0
    for info in infos:
        flag = " (deleted)" if info.deleted else ""
        version = f"v{info.version}" if info.version else "-"
        emit(f"{info.entry.id}  [{info.source} {version}]{flag}  {info.entry.question}")
    emit(f"total: {sum(1 for i in infos if not i.deleted)} entries")
    return 0


def _admin() -> KnowledgeAdmin:
    """The admin use cases on the configured database (which must be migrated); no model is loaded."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.config import get_settings
    from bot.core.admin.entries import KnowledgeAdmin
    from bot.db.engine import Database
    from bot.db.migrate import is_up_to_date
    from bot.runtime import knowledge_paths
    from knowledge.loader import load_entries

    settings = get_settings()
    database = Database.from_url(settings.database_url)
    try:
        ready = is_up_to_date(database.engine)
    except SQLAlchemyError as exc:
        raise CommandFailed(f"cannot open the database: {str(getattr(exc, 'orig', exc)).splitlines()[0]}") from None
    if not ready:
        raise CommandFailed("the database is not migrated yet: run `torchtutor migrate` first")
    paths = knowledge_paths(settings)
    return KnowledgeAdmin(database, documents=lambda: load_entries(paths))


def _checked(call: Callable[[], T]) -> T:
    """Run a core call, turning bad input and unknown ids into usage errors (exit 2) and conflicts into exit 1."""
    from bot.core.admin.entries import EditConflict
    from bot.core.errors import BadInput, NotFound

    try:
        return call()
    except (BadInput, NotFound) as exc:
        raise UsageError(str(exc)) from None
    except EditConflict as exc:
        raise CommandFailed(str(exc)) from None


def _answer(args: argparse.Namespace) -> str:
    if args.answer_file is None:
        return str(args.answer)
    if str(args.answer_file) == "-":
        return sys.stdin.read()
    try:
        return str(args.answer_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {args.answer_file}: {getattr(exc, 'strerror', None) or exc}") from None


def _by(args: argparse.Namespace) -> str:
    if args.by:
        return str(args.by)
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _saved(args: argparse.Namespace, version: Any, verb: str) -> int:
    if args.json:
        emit_json(version.to_json())
    else:
        emit(f"{verb} {version.entry_id} (version {version.version}, by {version.changed_by})")
    return 0
