"""`torchtutor admin`: dashboard accounts."""

from __future__ import annotations

import argparse
import getpass
import sys

from bot.cli.output import emit
from bot.cli.parser import UsageError
from bot.config import get_settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `admin` command group."""
    parser = commands.add_parser("admin", help="manage dashboard accounts")
    actions = parser.add_subparsers(dest="admin_command", metavar="ACTION", required=True)
    create = actions.add_parser("create-user", help="create a dashboard account")
    create.add_argument("--username", required=True, help="the login name (letters, digits, _ . @ -)")
    create.add_argument("--role", choices=("admin", "viewer"), default="viewer",
                        help="admin: read and edit; viewer: read only (default: viewer)")
    create.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of stdin (else ask on the terminal)")
    create.set_defaults(func=create_user)
    change = actions.add_parser("set-password", help="set an account's password and end its sessions")
    change.add_argument("--username", required=True, help="the account's login name")
    change.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of stdin (else ask on the terminal)")
    change.set_defaults(func=set_password)


def read_password(from_stdin: bool) -> str:
    """The password: the first line of stdin, or typed twice on a terminal."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UsageError("pass the password on stdin with --password-stdin")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UsageError("the passwords differ")
    return first


def create_user(args: argparse.Namespace) -> int:
    """Create the account; a taken name or a short password is bad input (exit 2)."""
    from bot.core.admin.accounts import check_new_credentials, create_account
    from bot.core.errors import BadInput
    from bot.db.engine import Database
    from bot.runtime import require_schema

    password = read_password(args.password_stdin)
    try:
        check_new_credentials(args.username, password, args.role)
    except BadInput as exc:
        raise UsageError(str(exc)) from None
    database = Database.from_url(get_settings().database_url)
    try:
        require_schema(database)
        with database.transaction() as session:
            account = create_account(session=session, username=args.username, password=password, role=args.role)
            name, role = account.username, account.role
    except BadInput as exc:
        raise UsageError(str(exc)) from None
    finally:
        database.dispose()
    emit(f"created {role} account {name!r}")
    return 0


def set_password(args: argparse.Namespace) -> int:
    """Set the password; every session of the account ends (a copied cookie too). Unknown name: exit 2."""
    from bot.core.admin.accounts import change_password
    from bot.core.errors import BadInput
    from bot.db.engine import Database
    from bot.runtime import require_schema

    password = read_password(args.password_stdin)
    database = Database.from_url(get_settings().database_url)
    try:
        require_schema(database)
        with database.transaction() as session:
            name = change_password(session=session, username=args.username, password=password).username
    except BadInput as exc:
        raise UsageError(str(exc)) from None
    finally:
        database.dispose()
    emit(f"set the password of {name!r}; its sessions have ended")
    return 0
