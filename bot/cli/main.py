"""The `torchtutor` command: parses arguments, configures logging, runs one command."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from bot.cli import (
    admin_cmd,
    ask_cmd,
    chat_cmd,
    demo_cmd,
    eval_cmd,
    gaps_cmd,
    health_cmd,
    knowledge_cmd,
    migrate_cmd,
    serve_cmd,
    study_cmd,
    worker_cmd,
)
from bot.cli.output import fail
from bot.cli.parser import CommandFailed, Parser, UsageError
from bot.config import ConfigError, get_settings
from bot.runtime import SchemaNotReady
from knowledge.onnx_model import ExportError

COMMAND_MODULES = [serve_cmd, migrate_cmd, chat_cmd, ask_cmd, knowledge_cmd, eval_cmd, gaps_cmd, demo_cmd,
                   worker_cmd, study_cmd, admin_cmd, health_cmd]


def build_parser() -> Parser:
    """The full argument parser."""
    parser = Parser(prog="torchtutor", description="A chat bot that teaches PyTorch.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def single_threaded_blas() -> None:
    """numpy's matrix products (the index search, pooling) on the calling thread only.

    They are small (one question against the index), so a second BLAS thread gains nothing, and OpenBLAS's idle
    worker spins between them: serving 124 questions/s on 2 cores it burned 65% of a core, and the p99 latency
    was 350 ms instead of 60. numpy is imported by now, so the environment variable would come too late.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Model threads sleep between batches instead of spinning, leaving the CPU to the event loop and the database
    # writer; on a small machine spinning threads starved them (must be set before torch is imported).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    single_threaded_blas()
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose, chatty=args.command in ("run", "serve", "worker"))
    try:
        return int(args.func(args) or 0)
    except (UsageError, ConfigError) as exc:
        fail(str(exc))
        return 2
    except (CommandFailed, SchemaNotReady, ExportError) as exc:
        fail(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130


def configure_logging(verbose: bool, chatty: bool = False) -> None:
    """Logs go to stderr so stdout stays machine-readable; long-running commands also log progress.

    The format and level come from the settings when they read cleanly; a bad setting is reported by the command
    itself (one line, exit status 2), so here it only falls back to text.
    """
    from bot import logging as tt_logging

    try:
        settings = get_settings()
        fmt, level = settings.log_format or "text", settings.log_level.upper()
    except ConfigError:
        fmt, level = "text", "INFO"
    if level not in logging.getLevelNamesMapping():
        level = "INFO"
    ours = logging.DEBUG if verbose else (level if chatty else None)
    tt_logging.configure(fmt=fmt, level=logging.DEBUG if verbose else logging.WARNING, ours=ours)


if __name__ == "__main__":
    sys.exit(main())
