"""Dashboard accounts: creating them, checking passwords with Argon2, and throttling password guessing."""

from __future__ import annotations

import functools
import hashlib
import math
import re
import secrets
import threading
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from bot.core.errors import BadInput, TorchtutorError
from bot.db import account_repo
from bot.db.account_models import ROLES, Account
from bot.db.base import utcnow
from bot.db.engine import Database

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.@-]{0,63}$")
# Attempts older than this are pruned; the audit trail a dashboard needs is short.
ATTEMPT_RETENTION = timedelta(days=7)

# argon2-cffi's defaults: RFC 9106's low-memory profile (argon2id, 64 MiB, 3 passes, 4 lanes).
_hasher = PasswordHasher()
# Each check holds 64 MiB: a login flood must not multiply that. Waiters give up after ARGON2_WAIT_S.
ARGON2_CONCURRENCY = 2
ARGON2_WAIT_S = 10.0
_ARGON2_SLOTS = threading.BoundedSemaphore(ARGON2_CONCURRENCY)


class LoginThrottled(TorchtutorError):
    """Too many failed logins for this name or from this client; try again after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        wait = f"{retry_after} seconds" if retry_after < 120 else f"{math.ceil(retry_after / 60)} minutes"
        super().__init__(f"Too many failed logins. Try again in {wait}.")


class LoginBusy(TorchtutorError):
    """Every password check slot stayed busy (a login flood); try again in a moment."""

    def __init__(self) -> None:
        super().__init__("The server is busy checking other logins. Try again in a moment.")


@dataclass(frozen=True)
class LoginPolicy:
    """Failures within a window that lock out a client, or a name from one client; past the per-name limit, the
    name from anywhere is slowed down (one check per delay, doubling up to `max_delay`), never locked."""

    max_failures_per_name: int = 5
    max_failures_per_client: int = 20
    window: timedelta = timedelta(minutes=15)
    max_delay: timedelta = timedelta(seconds=30)


def normalise_username(username: str) -> str:
    """The stored form of a name: NFKC, trimmed, lower-case."""
    return unicodedata.normalize("NFKC", username).strip().lower()


def check_new_credentials(username: str, password: str, role: str) -> str:
    """The normalised name, or BadInput saying what is wrong with the name, password or role."""
    name = normalise_username(username)
    if not _USERNAME.match(name):
        raise BadInput("a username is 1-64 characters: letters, digits and _ . @ -, starting with a letter or digit")
    if len(password) < MIN_PASSWORD_CHARS:
        raise BadInput(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise BadInput(f"the password must have at most {MAX_PASSWORD_CHARS} characters")
    if role not in ROLES:
        raise BadInput(f"the role must be one of: {', '.join(ROLES)}")
    return name


def create_account(*, session: Session, username: str, password: str, role: str = "viewer") -> Account:
    """A new account with an Argon2 hash of the password; BadInput for a taken name or a weak password."""
    name = check_new_credentials(username, password, role)
    if account_repo.account_named(session=session, username=name) is not None:
        raise BadInput(f"the username {name!r} is already taken")
    account = Account(username=name, password_hash=_hash(password), role=role)
    session.add(account)
    session.flush()
    return account


def password_fingerprint(account: Account) -> str:
    """A short value that changes whenever the password does, so sessions die with the old password."""
    return hashlib.sha256(account.password_hash.encode()).hexdigest()[:16]


def authenticate(*, database: Database, username: str, password: str, client: str,
                 policy: LoginPolicy | None = None, now: datetime | None = None) -> Account | None:
    """The account when the password is right, None when not; LoginThrottled when the throttle says wait.

    The attempt is recorded and committed before anything is counted, so concurrent guesses see each other
    (in every process) and no more than the limits reach Argon2. Then it is refused unchecked, or checked
    (at most ARGON2_CONCURRENCY at a time in this process) and settled as failed or succeeded.
    """
    policy = policy or LoginPolicy()
    now = now or utcnow()
    name, client = normalise_username(username)[:64], client[:64]
    with database.transaction() as session:
        attempt = account_repo.add_attempt(session=session, username=name, client=client, now=now)
    with database.transaction() as session:
        retry_after = _throttled_for(session, attempt, name, client, policy, now)
        if retry_after:
            account_repo.finish_attempt(session=session, attempt_id=attempt, checked=False)
        account = account_repo.account_named(session=session, username=name)
    if retry_after:
        raise LoginThrottled(retry_after)
    try:
        ok = _verify(account.password_hash if account else _dummy_hash(), password) and account is not None
    except LoginBusy:  # not checked: it must not count as a failure
        with database.transaction() as session:
            account_repo.finish_attempt(session=session, attempt_id=attempt, checked=False)
        raise
    rehash = _hash(password) if ok and account and _hasher.check_needs_rehash(account.password_hash) else None
    with database.transaction() as session:
        account_repo.finish_attempt(session=session, attempt_id=attempt, checked=True,
                                    account_id=account.id if ok and account else None)
        account_repo.forget_attempts(session=session, before=now - ATTEMPT_RETENTION)
        if not ok or account is None:
            return None
        account = session.get(Account, account.id)
        if account is None:
            return None
        account.last_login_at = now
        if rehash is not None:
            account.password_hash = rehash
        return account


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the name is unknown, so a wrong name costs as long as a wrong password."""
    return _hash("not-a-real-password")


def _verify(password_hash: str, password: str) -> bool:
    if not _ARGON2_SLOTS.acquire(timeout=ARGON2_WAIT_S):
        raise LoginBusy()
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    finally:
        _ARGON2_SLOTS.release()


def _hash(password: str) -> str:
    if not _ARGON2_SLOTS.acquire(timeout=ARGON2_WAIT_S):
        raise LoginBusy()
    try:
        return _hasher.hash(password)
    finally:
        _ARGON2_SLOTS.release()


def _throttled_for(session: Session, attempt: int, name: str, client: str, policy: LoginPolicy,
                   now: datetime) -> int:
    """Seconds this attempt must wait (0: go ahead). Counts include this attempt and unfinished concurrent ones.

    Per client, and per name from one client: a lockout until the oldest failure leaves the window (it only
    locks out whoever guesses). Per name from everywhere: a slow-down, one checked attempt per `delay`, the delay
    doubling with each failure past the limit up to `max_delay`; the owner waits seconds, never the window.
    """
    since = now - policy.window
    waits = [
        (oldest + policy.window - now).total_seconds()
        for (count, oldest), limit in (
            (account_repo.failures(session=session, since=since, client=client), policy.max_failures_per_client),
            (account_repo.failures(session=session, since=since, username=name, client=client),
             policy.max_failures_per_name))
        if count > limit and oldest is not None
    ]
    failed, _ = account_repo.failures(session=session, since=since, username=name)
    if failed > policy.max_failures_per_name:
        delay = min(policy.max_delay, timedelta(seconds=2 ** min(failed - policy.max_failures_per_name - 1, 30)))
        latest = account_repo.latest_checked(session=session, username=name, since=now - delay, other_than=attempt)
        if latest is not None:
            waits.append((latest + delay - now).total_seconds())
    return max(1, math.ceil(max(waits))) if waits else 0


def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(*, session: Session, account_id: int, max_age: timedelta, now: datetime | None = None) -> str:
    """Store a new logged-in session for the account; returns the random token its cookie carries."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    account_repo.delete_sessions(session=session, before=now - max_age)
    account_repo.add_session(session=session, session_id=_session_id(token), account_id=account_id, now=now)
    return token


def session_account(*, session: Session, token: str, max_age: timedelta,
                    now: datetime | None = None) -> Account | None:
    """The account of a stored, unexpired session; None once it was ended (logout, password change)."""
    since = (now or utcnow()) - max_age
    return account_repo.session_account(session=session, session_id=_session_id(token), since=since)


def end_session(*, session: Session, token: str) -> None:
    """End one session on the server: every copy of its cookie stops working."""
    account_repo.delete_sessions(session=session, session_id=_session_id(token))


def change_password(*, session: Session, username: str, password: str) -> Account:
    """Set a new password (Argon2) and end every session of the account; BadInput for an unknown name or a
    password that does not meet the rules."""
    name = normalise_username(username)
    account = account_repo.account_named(session=session, username=name)
    if account is None:
        raise BadInput(f"there is no account {name!r}")
    check_new_credentials(name, password, account.role)
    account.password_hash = _hash(password)
    account_repo.delete_sessions(session=session, account_id=account.id)
    return account
