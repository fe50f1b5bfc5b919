"""Dashboard accounts: `torchtutor admin create-user`, Argon2 hashes, and login throttling in the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.core.accounts import LoginPolicy, LoginThrottled, authenticate, create_account
from bot.core.errors import BadInput
from bot.db.account_models import Account, LoginAttempt
from bot.db.base import utcnow
from bot.db.engine import Database
from tests.conftest import cli


@pytest.fixture
def database(migrated):  # type: ignore[no-untyped-def]
    db = Database.from_url(migrated.database_url)
    yield db
    db.dispose()


def test_create_user_stores_an_argon2_hash_and_the_role(migrated, database) -> None:  # type: ignore[no-untyped-def]
    result = cli("admin", "create-user", "--username", "Alice", "--role", "admin", "--password-stdin",
                 input="s3cret-enough\nignored second line\n")
    assert result.returncode == 0, result.stderr
    assert "alice" in result.stdout
    with database.session() as session:
        account = session.scalars(select(Account)).one()
    assert (account.username, account.role) == ("alice", "admin")
    assert account.password_hash.startswith("$argon2id$") and "s3cret" not in account.password_hash


def test_create_user_defaults_to_viewer(migrated, database) -> None:  # type: ignore[no-untyped-def]
    assert cli("admin", "create-user", "--username", "vic", "--password-stdin", input="long enough\n").returncode == 0
    with database.session() as session:
        assert session.scalars(select(Account.role)).one() == "viewer"


@pytest.mark.parametrize(("args", "password", "message"), [
    (("--username", "bob"), "", "at least 8"),
    (("--username", "bob"), "short\n", "at least 8"),
    (("--username", "bad name!"), "long enough\n", "username"),
    (("--username", "bob", "--role", "root"), "long enough\n", "invalid choice"),
])
def test_create_user_refuses_bad_input_with_status_2(migrated, args, password, message) -> None:  # type: ignore[no-untyped-def]
    result = cli("admin", "create-user", *args, "--password-stdin", input=password)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.strip().count("\n") == 0


def test_create_user_refuses_a_taken_name_in_any_case(migrated) -> None:  # type: ignore[no-untyped-def]
    assert cli("admin", "create-user", "--username", "ada", "--password-stdin", input="long enough\n").returncode == 0
    result = cli("admin", "create-user", "--username", "ADA", "--password-stdin", input="another one\n")
    assert result.returncode == 2 and "already taken" in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_create_user_on_an_unmigrated_database_says_migrate_first() -> None:
    result = cli("admin", "create-user", "--username", "ada", "--password-stdin", input="long enough\n")
    assert result.returncode == 1 and "torchtutor migrate" in result.stderr


def test_create_user_without_password_stdin_and_no_terminal_is_usage_error(migrated) -> None:  # type: ignore[no-untyped-def]
    result = cli("admin", "create-user", "--username", "ada", input="")
    assert result.returncode == 2 and "--password-stdin" in result.stderr


def test_authenticate_checks_the_password_and_records_every_attempt(database) -> None:  # type: ignore[no-untyped-def]
    with database.transaction() as session:
        create_account(session=session, username="ada", password="long enough", role="admin")
    with database.transaction() as session:
        assert authenticate(session=session, username="ada", password="wrong one", client="1.2.3.4") is None
        assert authenticate(session=session, username="nobody", password="long enough", client="1.2.3.4") is None
        account = authenticate(session=session, username=" ADA ", password="long enough", client="1.2.3.4")
        assert account is not None and account.last_login_at is not None
    with database.session() as session:
        outcomes = session.scalars(select(LoginAttempt.succeeded).order_by(LoginAttempt.id)).all()
    assert outcomes == [False, False, True]


def test_failures_per_name_and_per_client_throttle_until_the_window_passes(database) -> None:  # type: ignore[no-untyped-def]
    policy = LoginPolicy(max_failures_per_name=3, max_failures_per_client=5, window=timedelta(minutes=10))
    with database.transaction() as session:
        create_account(session=session, username="ada", password="long enough")
    now = utcnow()
    with database.transaction() as session:
        for _ in range(3):
            authenticate(session=session, username="ada", password="nope", client="a", policy=policy, now=now)
    with database.transaction() as session, pytest.raises(LoginThrottled) as throttled:
        authenticate(session=session, username="ada", password="long enough", client="b", policy=policy, now=now)
    assert 0 < throttled.value.retry_after <= 601
    with database.transaction() as session:  # another name from another client is not affected
        assert authenticate(session=session, username="bo", password="x" * 8, client="b", policy=policy,
                            now=now) is None
    with database.transaction() as session:  # the client limit: 5 failures from "b" whatever the names
        for name in ("c1", "c2", "c3", "c4"):
            authenticate(session=session, username=name, password="nope", client="b", policy=policy, now=now)
    with database.transaction() as session, pytest.raises(LoginThrottled):
        authenticate(session=session, username="fresh", password="nope", client="b", policy=policy, now=now)
    later = now + timedelta(minutes=11)
    with database.transaction() as session:
        assert authenticate(session=session, username="ada", password="long enough", client="b", policy=policy,
                            now=later) is not None
    with database.session() as session:  # throttled attempts are refused before they are counted
        assert session.scalar(select(func.count()).select_from(LoginAttempt)) == 3 + 1 + 4 + 1


def test_create_account_validates(database) -> None:  # type: ignore[no-untyped-def]
    with database.transaction() as session, pytest.raises(BadInput):
        create_account(session=session, username="ada", password="x" * 2000)


def test_run_says_where_the_playground_and_the_dashboard_are() -> None:
    from bot.cli.serve_cmd import startup_banner
    from bot.config import Settings

    banner = "\n".join(startup_banner(Settings(port=8123)))
    assert "http://127.0.0.1:8123/playground" in banner
    assert "http://127.0.0.1:8123/dashboard" in banner and "admin create-user" in banner
