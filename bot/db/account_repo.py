"""Queries of the dashboard's accounts: stored sessions, and the login attempts the throttle counts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.orm import Session

from bot.db.account_models import Account, DashboardSession, LoginAttempt
from bot.db.base import rowcount


def account_named(*, session: Session, username: str) -> Account | None:
    """The account with this (normalised) name."""
    return session.scalar(select(Account).where(Account.username == username))


def add_session(*, session: Session, session_id: str, account_id: int, now: datetime) -> None:
    """Store a new logged-in session under its id (the hash of the cookie's token)."""
    session.add(DashboardSession(id=session_id, account_id=account_id, created_at=now))


def session_account(*, session: Session, session_id: str, since: datetime) -> Account | None:
    """The account of a stored session created after `since`, or None (logged out, expired, account gone)."""
    return session.scalar(select(Account).join(DashboardSession, DashboardSession.account_id == Account.id)
                          .where(DashboardSession.id == session_id, DashboardSession.created_at > since))


def delete_sessions(*, session: Session, session_id: str | None = None, account_id: int | None = None,
                    before: datetime | None = None) -> int:
    """Remove one session, every session of an account, or every session created before a time."""
    statement = delete(DashboardSession)
    if session_id is not None:
        statement = statement.where(DashboardSession.id == session_id)
    if account_id is not None:
        statement = statement.where(DashboardSession.account_id == account_id)
    if before is not None:
        statement = statement.where(DashboardSession.created_at < before)
    return rowcount(session.execute(statement))


def add_attempt(*, session: Session, username: str, client: str, now: datetime) -> int:
    """Record an attempt as an unfinished failure (so it counts at once); its id."""
    attempt = LoginAttempt(username=username, client=client, succeeded=False, checked=True, created_at=now)
    session.add(attempt)
    session.flush()
    return attempt.id


def finish_attempt(*, session: Session, attempt_id: int, checked: bool, account_id: int | None = None) -> None:
    """Settle an attempt: refused unchecked (`checked=False`), failed, or succeeded (`account_id` given)."""
    session.execute(update(LoginAttempt).where(LoginAttempt.id == attempt_id).values(
        checked=checked, succeeded=account_id is not None, account_id=account_id))


def _failed_since(since: datetime) -> ColumnElement[bool]:
    return (LoginAttempt.checked.is_(True) & LoginAttempt.succeeded.is_(False)  # unfinished ones included
            & (LoginAttempt.created_at > since))


def failures(*, session: Session, since: datetime, username: str | None = None,
             client: str | None = None) -> tuple[int, datetime | None]:
    """Checked (or still unfinished) failed attempts since a time, for a name and/or client: count and oldest."""
    query = select(func.count(), func.min(LoginAttempt.created_at)).where(_failed_since(since))
    if username is not None:
        query = query.where(LoginAttempt.username == username)
    if client is not None:
        query = query.where(LoginAttempt.client == client)
    count, oldest = session.execute(query).one()
    return int(count), oldest


def latest_checked(*, session: Session, username: str, since: datetime, other_than: int) -> datetime | None:
    """When the latest other checked (or unfinished) attempt for a name since a time was made."""
    return session.scalar(select(func.max(LoginAttempt.created_at)).where(
        LoginAttempt.username == username, LoginAttempt.checked.is_(True), LoginAttempt.created_at > since,
        LoginAttempt.id != other_than))


def forget_attempts(*, session: Session, before: datetime) -> None:
    """Drop attempts older than the audit trail keeps."""
    session.execute(delete(LoginAttempt).where(LoginAttempt.created_at < before))
