"""The `torchtutor` command: parses arguments, configures logging, runs one command."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from bot.cli import ask_cmd, chat_cmd, eval_cmd, gaps_cmd, knowledge_cmd, migrate_cmd, serve_cmd
from bot.cli.output import fail
from bot.cli.parser import CommandFailed, Parser, UsageError
from bot.config import ConfigError
from bot.runtime import SchemaNotReady

COMMAND_MODULES = [serve_cmd, migrate_cmd, chat_cmd, ask_cmd, knowledge_cmd, eval_cmd, gaps_cmd]


def build_parser() -> Parser:
    """The full argument parser."""
    parser = Parser(prog="torchtutor", description="A chat bot that teaches PyTorch.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Model threads sleep between batches instead of spinning, leaving the CPU to the event loop and the database
    # writer; on a small machine spinning threads starved them (must be set before torch is imported).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except (UsageError, ConfigError) as exc:
        fail(str(exc))
        return 2
    except (CommandFailed, SchemaNotReady) as exc:
        fail(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130


def configure_logging(verbose: bool) -> None:
    """Logs go to stderr so stdout stays machine-readable."""
    level = logging.DEBUG if verbose else logging.WARNING
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("bot").setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("sentence_transformers", "transformers", "httpx", "urllib3", "filelock", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass


if __name__ == "__main__":
    sys.exit(main())
