"""Dashboard accounts: creating them, checking passwords with Argon2, and throttling password guessing."""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.core.errors import BadInput, TorchtutorError
from bot.db.account_models import ROLES, Account, LoginAttempt
from bot.db.base import utcnow

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.@-]{0,63}$")
# Attempts older than this are pruned; the audit trail a dashboard needs is short.
ATTEMPT_RETENTION = timedelta(days=7)

# argon2-cffi's defaults: RFC 9106's low-memory profile (argon2id, 64 MiB, 3 passes, 4 lanes).
_hasher = PasswordHasher()


class LoginThrottled(TorchtutorError):
    """Too many failed logins for this name or from this client; try again after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"Too many failed logins. Try again in {max(1, retry_after // 60)} minute(s).")


@dataclass(frozen=True)
class LoginPolicy:
    """How many failures within a window block further attempts, per account name and per client address."""

    max_failures_per_name: int = 5
    max_failures_per_client: int = 20
    window: timedelta = timedelta(minutes=15)


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
    if session.scalar(select(Account.id).where(Account.username == name)) is not None:
        raise BadInput(f"the username {name!r} is already taken")
    account = Account(username=name, password_hash=_hasher.hash(password), role=role)
    session.add(account)
    session.flush()
    return account


def password_fingerprint(account: Account) -> str:
    """A short value that changes whenever the password does, so sessions die with the old password."""
    return hashlib.sha256(account.password_hash.encode()).hexdigest()[:16]


def authenticate(*, session: Session, username: str, password: str, client: str,
                 policy: LoginPolicy | None = None, now: datetime | None = None) -> Account | None:
    """The account when the password is right, None when not; LoginThrottled after too many failures.

    Every attempt is recorded, in the caller's transaction, so the limit holds across processes.
    """
    policy = policy or LoginPolicy()
    now = now or utcnow()
    name = normalise_username(username)[:64]
    client = client[:64]
    retry_after = _throttled_for(session, name, client, policy, now)
    if retry_after:
        raise LoginThrottled(retry_after)
    account = session.scalar(select(Account).where(Account.username == name))
    ok = _verify(account.password_hash if account else _dummy_hash(), password) and account is not None
    session.add(LoginAttempt(username=name, client=client, succeeded=ok, account_id=account.id if ok and account
                             else None, created_at=now))
    session.execute(delete(LoginAttempt).where(LoginAttempt.created_at < now - ATTEMPT_RETENTION))
    if not ok or account is None:
        return None
    account.last_login_at = now
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    return account


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the name is unknown, so a wrong name costs as long as a wrong password."""
    return _hasher.hash("not-a-real-password")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _throttled_for(session: Session, name: str, client: str, policy: LoginPolicy, now: datetime) -> int:
    """Seconds until the oldest failure that makes up a limit leaves the window; 0 when not throttled."""
    since = now - policy.window
    failed = select(func.count(), func.min(LoginAttempt.created_at)).where(
        LoginAttempt.succeeded.is_(False), LoginAttempt.created_at > since)
    by_name = session.execute(failed.where(LoginAttempt.username == name)).one()
    by_client = session.execute(failed.where(LoginAttempt.client == client)).one()
    waits = [
        (oldest + policy.window - now).total_seconds()
        for (count, oldest), limit in ((by_name, policy.max_failures_per_name),
                                       (by_client, policy.max_failures_per_client))
        if count >= limit and oldest is not None
    ]
    return max(1, int(max(waits)) + 1) if waits else 0


def get_account(*, session: Session, account_id: int) -> Account | None:
    """The account with this id, if it still exists."""
    return session.get(Account, account_id)
