"""Which process keeps each job's chat message current: a lease on the job row, renewed while it follows.

The process that posts a job's message anchors it (where the message is, and itself as follower). It renews
its lease while the job runs, marks the job delivered once the result is shown, and hands the job back when it
stops early. A job whose follower handed it back, or whose lease lapsed (a killed process), is an orphan: any
process connected to that platform may claim it and carry on editing the same message.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from bot.db.base import rowcount, utcnow
from bot.db.engine import Database
from bot.db.job_models import Job

LEASE = timedelta(seconds=30)
ORPHAN_MAX_AGE = timedelta(days=1)  # older unfinished messages are left as they are
_CAS = {"synchronize_session": False}


@dataclass(frozen=True)
class Orphan:
    """A claimed job whose message this process now keeps current."""

    job_id: str
    demo: str
    params: dict[str, Any]
    platform: str
    message_ref: str
    address: dict[str, Any]


class JobFollowers:
    """Anchors, leases, hand-backs and claims of jobs' chat messages; each call is one short transaction."""

    def __init__(self, database: Database, owner: str, *, lease: timedelta = LEASE,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.database = database
        self.owner = owner[:128]
        self.lease = lease
        self.clock = clock

    def anchor(self, message_ref: str, address: dict[str, Any]) -> bool:
        """The job whose message is `message_ref` is shown at `address`, followed by this process."""
        now = self.clock()
        statement = (update(Job).where(Job.message_ref == message_ref, Job.delivered_at.is_(None))
                     .values(message_address=address, follower=self.owner, follow_until=now + self.lease))
        with self.database.transaction() as session:
            return rowcount(session.execute(statement, execution_options=_CAS)) == 1

    def keep(self, job_id: str) -> bool:
        """Renew this process's lease; False when another process has taken the job over."""
        with self.database.transaction() as session:
            renewed = session.execute(update(Job).where(Job.id == job_id, Job.follower == self.owner)
                                      .values(follow_until=self.clock() + self.lease), execution_options=_CAS)
            if rowcount(renewed) == 1:
                return True
            follower = session.scalar(select(Job.follower).where(Job.id == job_id))
        return follower is None  # never anchored (a console or web request): nobody else can take it

    def delivered(self, job_id: str) -> None:
        """The result is on screen: nobody needs to follow this job again."""
        with self.database.transaction() as session:
            session.execute(update(Job).where(Job.id == job_id)
                            .values(delivered_at=self.clock(), follower=None, follow_until=None),
                            execution_options=_CAS)

    def hand_back(self, job_id: str) -> None:
        """Stop following before the result: any process may claim the job at once."""
        with self.database.transaction() as session:
            session.execute(update(Job).where(Job.id == job_id, Job.follower == self.owner)
                            .values(follower=None, follow_until=None), execution_options=_CAS)

    def claim_orphans(self, platforms: Collection[str], limit: int = 20) -> list[Orphan]:
        """Take over the undelivered, anchored jobs of these platforms that nobody follows."""
        if not platforms:
            return []
        now = self.clock()
        orphaned = (Job.platform.in_(sorted(platforms)), Job.message_address.is_not(None),
                    Job.message_ref.is_not(None), Job.delivered_at.is_(None), Job.created_at > now - ORPHAN_MAX_AGE,
                    or_(Job.follower.is_(None), Job.follow_until < now))
        with self.database.session() as session:
            candidates = list(session.scalars(select(Job.id).where(*orphaned).order_by(Job.created_at).limit(limit)))
        claimed = []
        for job_id in candidates:
            statement = (update(Job).where(Job.id == job_id, *orphaned)
                         .values(follower=self.owner, follow_until=now + self.lease)
                         .returning(Job.id, Job.demo, Job.params, Job.platform, Job.message_ref, Job.message_address))
            with self.database.transaction() as session:
                row = session.execute(statement, execution_options=_CAS).first()
            if row is not None:
                claimed.append(Orphan(row.id, row.demo, dict(row.params or {}), row.platform, row.message_ref,
                                      dict(row.message_address)))
        return claimed
