"""Spaced repetition with FSRS: every answer reschedules its item for that person; `/review` asks what is due."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from fsrs import Card, Rating, Scheduler, State
from sqlalchemy.orm import Session

from bot.core.conversation import Reply, Request
from bot.core.errors import BadInput
from bot.core.identity import identify
from bot.db import quiz_repo as repo
from bot.db.base import utcnow
from bot.db.engine import Database
from bot.db.quiz_models import REVIEW, ReviewState
from knowledge.grading import Grade
from knowledge.quiz_bank import QuizItem

if TYPE_CHECKING:
    from bot.core.learning.quizzes import QuizService

# One short step: a wrong answer comes back in ten minutes, a right one graduates to days at once.
# (FSRS's default 1 and 10 minute steps would make every item of a quiz due again within the hour.)
LEARNING_STEPS = (timedelta(minutes=10),)
DATE_FORMAT = "%a %d %b %H:%M UTC"


def default_scheduler(fuzz: bool = True) -> Scheduler:
    """The FSRS scheduler torchtutor uses; tests switch fuzzing off for exact intervals."""
    return Scheduler(learning_steps=LEARNING_STEPS, relearning_steps=LEARNING_STEPS, enable_fuzzing=fuzz)


def rating_for(result: Grade, skipped: bool = False) -> Rating:
    """How well the person recalled the item: wrong or skipped is Again, right but incomplete is Hard."""
    if skipped or not result.correct:
        return Rating.Again
    return Rating.Hard if result.missing_points else Rating.Good


class Reviewer:
    """Applies one answer to a person's FSRS card of the item, inside the caller's transaction."""

    def __init__(self, scheduler: Scheduler | None = None) -> None:
        self.scheduler = scheduler or default_scheduler()

    def review(self, *, session: Session, user_id: int, item: QuizItem, rating: Rating,
               now: datetime) -> ReviewState:
        """Reschedule the item after an answer rated `rating`."""
        row = repo.get_review_state(session=session, user_id=user_id, item_id=item.id)
        card = Card.from_dict(row.card) if row is not None else Card()  # type: ignore[arg-type]
        lapsed = rating == Rating.Again and card.state == State.Review
        new, _ = self.scheduler.review_card(card, rating, now)
        values = {
            "topic": item.topic, "entry_id": item.entry, "card": new.to_dict(), "state": new.state.name.lower(),
            "due": new.due, "stability": new.stability, "difficulty": new.difficulty,
            "last_rating": rating.name.lower(), "reps": (row.reps if row else 0) + 1,
            "lapses": (row.lapses if row else 0) + int(lapsed), "last_review_at": now,
        }
        if row is None:
            values["created_at"] = now
        return repo.save_review_state(session=session, user_id=user_id, item_id=item.id, values=values)


MISTAKES_ACTION = "review:mistakes"


class ReviewService:
    """The `/review` command: a personal quiz of the items due for this person, most overdue first;
    `/review mistakes` (or the button under a finished quiz) re-asks what this person last got wrong."""

    def __init__(self, database: Database, quiz: QuizService, *, now: Callable[[], datetime] = utcnow) -> None:
        self.database = database
        self.quiz = quiz
        self.now = now

    async def review(self, request: Request) -> Reply:
        """Start a review of what is due (or of the person's mistakes), or say when the next item comes due."""
        what = request.text.strip().lower()
        if what not in ("", "due", "mistakes", "mistake", "wrong"):
            raise BadInput("Use `/review` for what is due, or `/review mistakes` to retry the questions you got "
                           "wrong.")
        snapshot = await asyncio.to_thread(self.quiz.bank.snapshot)
        if what in ("", "due"):
            return await asyncio.to_thread(self._start, request, snapshot)
        return await asyncio.to_thread(self._start_mistakes, request, snapshot)

    async def action(self, request: Request) -> Reply:
        """The `review:mistakes` button under a finished quiz: the same as `/review mistakes`, for the presser."""
        if request.action != MISTAKES_ACTION:
            raise BadInput("That review button is malformed.")
        return await self.review(request.with_command("review", "mistakes"))

    def _start_mistakes(self, request: Request, snapshot) -> Reply:  # type: ignore[no-untyped-def]
        with self.database.transaction() as session:
            user, channel = identify(session, request)
            missed = repo.missed_items(session=session, user_id=user.id, limit=self.quiz.settings.review_limit)
            items = [item for item in (snapshot.get(item_id) for item_id in missed) if item is not None]
            if items:
                return self.quiz.open_personal(session, user, channel, items, mode=REVIEW, topic=None)
        return Reply("No mistakes to go over: your latest answer to every question you have tried was right. "
                     "Take a /quiz for new ones.", title="Review", ephemeral=True, kind="review_empty")

    def _start(self, request: Request, snapshot) -> Reply:  # type: ignore[no-untyped-def]
        now = self.now()
        with self.database.transaction() as session:
            user, channel = identify(session, request)
            due = repo.due_reviews(session=session, user_id=user.id, now=now, limit=self.quiz.settings.review_limit)
            items = [item for item in (snapshot.get(state.item_id) for state in due) if item is not None]
            if items:
                return self.quiz.open_personal(session, user, channel, items, mode=REVIEW, topic=None)
            _, total, upcoming = repo.review_counts(session=session, user_id=user.id, now=now)
        if not total:
            text = "Nothing to review yet: take a /quiz first, and the questions come back here when they are due."
        else:
            when = upcoming.strftime(DATE_FORMAT) if upcoming else "later"
            text = f"Nothing is due right now. {total} item(s) scheduled; the next comes due {when}."
        return Reply(text, title="Review", ephemeral=True, kind="review_empty")
