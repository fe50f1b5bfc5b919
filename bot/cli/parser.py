"""Argument parsing whose errors are one line and exit status 2."""

from __future__ import annotations

import argparse
from typing import NoReturn

from bot.cli.output import fail


class UsageError(Exception):
    """Bad usage or bad input: one line on stderr, exit status 2."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that reports errors in one line instead of usage plus error."""

    def error(self, message: str) -> NoReturn:
        fail(f"{message} (see `{self.prog} --help`)")
        raise SystemExit(2)


class CommandFailed(Exception):
    """A failure that is not the user's input (database locked, server down): one line, exit status 1."""
