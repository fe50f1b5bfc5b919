"""Dashboard accounts: `torchtutor admin create-user`, Argon2 hashes, and login throttling in the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.core.admin.accounts import LoginPolicy, LoginThrottled, authenticate, create_account
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
    assert authenticate(database=database, username="ada", password="wrong one", client="1.2.3.4") is None
    assert authenticate(database=database, username="nobody", password="long enough", client="1.2.3.4") is None
    account = authenticate(database=database, username=" ADA ", password="long enough", client="1.2.3.4")
    assert account is not None and account.last_login_at is not None
    with database.session() as session:
        outcomes = session.scalars(select(LoginAttempt.succeeded).order_by(LoginAttempt.id)).all()
    assert outcomes == [False, False, True]


def test_a_client_is_locked_out_but_the_name_is_only_slowed_down(database) -> None:  # type: ignore[no-untyped-def]
    policy = LoginPolicy(max_failures_per_name=3, max_failures_per_client=5, window=timedelta(minutes=10),
                         max_delay=timedelta(seconds=30))
    with database.transaction() as session:
        create_account(session=session, username="ada", password="long enough")
    now = utcnow()

    def attempt(name: str, password: str, client: str, at: timedelta = timedelta()):  # type: ignore[no-untyped-def]
        return authenticate(database=database, username=name, password=password, client=client, policy=policy,
                            now=now + at)

    for _ in range(3):
        assert attempt("ada", "nope", "attacker") is None
    with pytest.raises(LoginThrottled) as locked:  # the guessing client: locked out for the window
        attempt("ada", "long enough", "attacker")
    assert 500 < locked.value.retry_after <= 601
    with pytest.raises(LoginThrottled) as slowed:  # the owner elsewhere: seconds, not the window
        attempt("ada", "long enough", "owner")
    assert slowed.value.retry_after <= 2
    assert attempt("ada", "long enough", "owner", timedelta(seconds=2)) is not None
    with pytest.raises(LoginThrottled):  # still locked for the attacker, even with the right password
        attempt("ada", "long enough", "attacker", timedelta(seconds=60))
    assert attempt("bo", "x" * 8, "owner") is None  # another name from another client is not affected
    for name in ("c1", "c2", "c3", "c4"):  # the client limit: 5 failures from "owner" whatever the names
        attempt(name, "nope", "owner")
    with pytest.raises(LoginThrottled):
        attempt("fresh", "nope", "owner")
    assert attempt("ada", "long enough", "attacker", timedelta(minutes=11)) is not None


def test_the_slow_down_doubles_up_to_its_cap_and_refusals_do_not_extend_it(database) -> None:  # type: ignore[no-untyped-def]
    policy = LoginPolicy(max_failures_per_name=2, max_failures_per_client=1000, window=timedelta(minutes=15),
                         max_delay=timedelta(seconds=8))
    with database.transaction() as session:
        create_account(session=session, username="ada", password="long enough")
    now, at, waits = utcnow(), timedelta(), []
    for n in range(8):  # each from a new address, each at the moment the last wait ends
        try:
            authenticate(database=database, username="ada", password="nope", client=f"10.0.0.{n}", policy=policy,
                         now=now + at)
        except LoginThrottled as exc:
            waits.append(exc.retry_after)
            for spam in range(20):  # refused guesses in between neither count nor push the wait further
                with pytest.raises(LoginThrottled):
                    authenticate(database=database, username="ada", password="nope", client=f"spam{spam}",
                                 policy=policy, now=now + at)
            at += timedelta(seconds=exc.retry_after)
            authenticate(database=database, username="ada", password="nope", client=f"10.1.0.{n}", policy=policy,
                         now=now + at)
    assert waits == [1, 2, 4, 8, 8, 8]
    at += timedelta(seconds=8)
    assert authenticate(database=database, username="ada", password="long enough", client="owner", policy=policy,
                        now=now + at) is not None


def test_concurrent_wrong_passwords_are_counted_before_they_are_checked(database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """19 guesses at once for one name: no more than the limit reach Argon2, and never more than
    ARGON2_CONCURRENCY of them at the same time (a login flood cannot multiply the memory Argon2 takes)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from argon2 import PasswordHasher

    from bot.core.admin import accounts

    checking, most, lock = 0, 0, threading.Lock()
    start = threading.Barrier(19)

    class CountingHasher(PasswordHasher):  # production cost, so checks that may overlap do
        def verify(self, password_hash: str | bytes, password: str | bytes) -> bool:
            nonlocal checking, most
            with lock:
                checking += 1
                most = max(most, checking)
            try:
                return super().verify(password_hash, password)
            finally:
                with lock:
                    checking -= 1

    monkeypatch.setattr(accounts, "_hasher", CountingHasher())
    accounts._dummy_hash.cache_clear()
    with database.transaction() as session:
        create_account(session=session, username="ada", password="long enough")

    def guess(n: int) -> str:
        start.wait()
        try:
            return "ok" if authenticate(database=database, username="ada", password=f"guess {n}",
                                        client="203.0.113.7") else "wrong"
        except LoginThrottled:
            return "throttled"

    with ThreadPoolExecutor(19) as pool:
        outcomes = list(pool.map(guess, range(19)))
    assert outcomes.count("wrong") <= LoginPolicy().max_failures_per_name
    assert outcomes.count("wrong") + outcomes.count("throttled") == 19
    assert most <= accounts.ARGON2_CONCURRENCY
    with database.session() as session:
        checked = session.scalar(select(func.count()).select_from(LoginAttempt).where(LoginAttempt.checked))
    assert checked == outcomes.count("wrong")


def test_create_account_validates(database) -> None:  # type: ignore[no-untyped-def]
    with database.transaction() as session, pytest.raises(BadInput):
        create_account(session=session, username="ada", password="x" * 2000)


def test_run_says_where_the_playground_and_the_dashboard_are() -> None:
    from bot.cli.serve_cmd import startup_banner
    from bot.config import Settings

    banner = "\n".join(startup_banner(Settings(port=8123)))
    assert "http://127.0.0.1:8123/playground" in banner
    assert "http://127.0.0.1:8123/dashboard" in banner and "admin create-user" in banner


def test_a_login_finding_every_argon2_slot_busy_is_refused_uncounted(database, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from bot.core.admin import accounts

    with database.transaction() as session:
        create_account(session=session, username="ada", password="long enough")
    monkeypatch.setattr(accounts, "ARGON2_WAIT_S", 0.01)
    held = [accounts._ARGON2_SLOTS.acquire(blocking=False) for _ in range(accounts.ARGON2_CONCURRENCY)]
    assert all(held)
    try:
        with pytest.raises(accounts.LoginBusy):
            authenticate(database=database, username="ada", password="long enough", client="1.2.3.4")
    finally:
        for _ in held:
            accounts._ARGON2_SLOTS.release()
    with database.session() as session:
        assert session.scalars(select(LoginAttempt.checked)).all() == [False]
    assert authenticate(database=database, username="ada", password="long enough", client="1.2.3.4") is not None
