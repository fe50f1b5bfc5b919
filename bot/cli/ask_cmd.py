"""`torchtutor ask`: answer questions from the knowledge base without a chat platform."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.cli.output import emit, emit_json
from bot.cli.parser import UsageError
from bot.config import get_settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `ask` command."""
    parser = commands.add_parser("ask", help="answer PyTorch questions from the knowledge base")
    parser.add_argument("question", nargs="*", help="the question (words are joined)")
    parser.add_argument("--json", action="store_true", help="one JSON object per question")
    parser.add_argument("--knowledge", action="append", type=Path, metavar="PATH",
                        help="knowledge file or folder replacing the default set (repeatable)")
    parser.add_argument("--from-file", type=Path, metavar="FILE", help="one question per non-empty line")
    parser.set_defaults(func=run)


def read_questions(args: argparse.Namespace) -> list[str]:
    """The questions to answer, from the arguments or a file, in order."""
    questions = [" ".join(args.question)] if args.question else []
    if args.from_file is not None:
        try:
            text = args.from_file.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise UsageError(f"cannot read {args.from_file}: {exc.strerror}") from None
        questions += [line.strip() for line in text.splitlines() if line.strip()]
    if not questions:
        raise UsageError("give a question, or --from-file FILE")
    return questions


def run(args: argparse.Namespace) -> int:
    """Answer every question and print the results."""
    questions = read_questions(args)
    for path in args.knowledge or []:
        if not path.exists():
            raise UsageError(f"knowledge path not found: {path}")
    runtime = _runtime(args.knowledge)
    for answer in runtime.ask.answer_many(questions):
        if args.json:
            emit_json(answer.to_json())
        else:
            emit(_human(answer.to_json()))
    return 0


def _runtime(paths: list[Path] | None):  # type: ignore[no-untyped-def]
    """A started runtime over these knowledge paths (or the default set), with admin entries when migrated."""
    from bot.runtime import build_runtime

    runtime = build_runtime(get_settings(), paths=paths, use_database_entries=_database_ready(), batch_encodes=False)
    runtime.start()
    return runtime


def _database_ready() -> bool:
    """Admin entries come from the database only when it exists and is migrated."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.db.engine import make_engine
    from bot.db.migrate import is_up_to_date

    engine = make_engine(get_settings().database_url)
    try:
        return is_up_to_date(engine)
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def _human(result: dict) -> str:  # type: ignore[type-arg]
    docs = "".join(f"\n  docs: {d['title']} <{d['url']}>" for d in result["docs"])
    if result["status"] != "answered":
        return f"Q: {result['question']}\n(no answer in the knowledge base){docs}\n"
    related = "".join(f"\n  related: {r['entry_question']}" for r in result["related"])
    return (f"Q: {result['question']}\n[{result['entry_id']}, score {result['score']:.2f}] "
            f"{result['entry_question']}\n\n{result['answer']}{related}{docs}\n")
