"""`torchtutor eval [FILE]`: retrieval quality on a labelled question file (or the shipped set), per group."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bot.cli.output import emit, emit_json
from bot.cli.parser import UsageError


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `eval` command."""
    parser = commands.add_parser("eval", help="retrieval quality on a labelled question file (group, question, "
                                              "accept)")
    parser.add_argument("file", type=Path, nargs="?", metavar="FILE",
                        help="tab-separated: group, question, accept regex; or a folder of such *.tsv files "
                             "(default: the shipped set, knowledge/eval/*.tsv)")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--knowledge", action="append", type=Path, metavar="PATH",
                        help="knowledge file or folder replacing the default set (repeatable)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Answer every labelled question and report how the answers fit the labels."""
    from knowledge.evaluation import SHIPPED, EvalFileError, Outcome, read_set, summarise

    path = args.file or SHIPPED
    try:
        cases = read_set(path)
    except EvalFileError as exc:
        raise UsageError(str(exc)) from None
    for knowledge_path in args.knowledge or []:
        if not knowledge_path.exists():
            raise UsageError(f"knowledge path not found: {knowledge_path}")
    from bot.cli.ask_cmd import _runtime

    runtime = _runtime(args.knowledge)
    answers = runtime.ask.answer_many([case.question for case in cases])
    outcomes = [
        Outcome(case, answer.answered, answer.hit.entry.id if answer.hit else None,
                answer.hit.entry.question if answer.hit else None, answer.hit.score if answer.hit else 0.0)
        for case, answer in zip(cases, answers, strict=True)
    ]
    report = {"file": str(path), "entries": len(runtime.knowledge.index), "threshold": runtime.ask.threshold,
              **summarise(outcomes)}
    runtime.close()
    if args.json:
        emit_json(report)
    else:
        emit(_human(report))
    return 0


def _human(report: dict[str, Any]) -> str:
    rows = [("group", "questions", "correct", "accuracy", "declined", "wrong", "missed")]
    for name, stats in [*report["groups"].items(), ("total", report["total"])]:
        rows.append((name, str(stats["questions"]), str(stats["correct"]), f"{stats['accuracy']:.1%}",
                     str(stats["declined"]), str(stats["wrong"]), str(stats["missed"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths,
                                                                                                   strict=True)))
             for row in rows]
    lines.append(f"\n{report['entries']} entries, answer threshold {report['threshold']:.2f}")
    wrong = [(g, d) for g, s in report["groups"].items() for d in s["wrong_answers"]]
    missed = [(g, d) for g, s in report["groups"].items() for d in s["missed_questions"]]
    if wrong:
        lines.append("\nwrong answers:")
        for group, d in wrong:
            expected = f"/{d['expected']}/" if d["expected"] else "a decline"
            lines.append(f"  [{group}] {d['question']}\n      -> {d['entry_question']} ({d['score']:.2f}; "
                         f"expected {expected})")
    if missed:
        lines.append("\ndeclined, but should have answered:")
        for group, d in missed:
            lines.append(f"  [{group}] {d['question']}\n      best: {d['entry_question']} ({d['score']:.2f}; "
                         f"expected /{d['expected']}/)")
    return "\n".join(lines)
