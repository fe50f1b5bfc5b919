"""Quizzes, reviews, study channels and stats, built together and registered on the Tutor."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fsrs import Scheduler

from bot.core.answering.knowledge import KnowledgeService
from bot.core.learning.bank import QuizBank
from bot.core.learning.progress import StatsService
from bot.core.learning.quizzes import QuizService, QuizSettings
from bot.core.learning.review import Reviewer, ReviewService
from bot.core.learning.study import StudyLoop, StudyService
from bot.core.outbox import Outbox
from bot.core.telemetry import Telemetry
from bot.core.tutor import Tutor
from bot.db.base import utcnow
from bot.db.engine import Database
from bot.db.journal import Journal
from knowledge.index import Encoder


@dataclass
class QuizFeatures:
    """The quiz use cases of one process, sharing a bank, a clock and an outbox."""

    bank: QuizBank
    quiz: QuizService
    review: ReviewService
    study: StudyService
    stats: StatsService
    loop: StudyLoop

    @classmethod
    def build(cls, *, database: Database, knowledge: KnowledgeService, encoder: Encoder, outbox: Outbox,
              settings: QuizSettings | None = None, now: Callable[[], datetime] = utcnow, tick_s: float = 30.0,
              scheduler: Scheduler | None = None, rng: random.Random | None = None,
              owner: str | None = None, telemetry: Telemetry | None = None,
              journal: Journal | None = None) -> QuizFeatures:
        """Everything wired; nothing runs until the loop is started."""
        bank = QuizBank(knowledge, encoder)
        quiz = QuizService(database, bank, encoder, Reviewer(scheduler), settings=settings, now=now, rng=rng,
                           telemetry=telemetry, journal=journal)
        study = StudyService(database, quiz, outbox, now=now, owner=owner)
        return cls(bank=bank, quiz=quiz, review=ReviewService(database, quiz, now=now), study=study,
                   stats=StatsService(database, now=now), loop=StudyLoop(study, interval=tick_s))

    def register(self, tutor: Tutor) -> None:
        """Add `/quiz`, `/review`, `/study`, `/stats`, `/leaderboard`, the `quiz:` buttons and typed answers."""
        tutor.command("quiz", self.quiz.quiz)
        tutor.command("review", self.review.review)
        tutor.command("study", self.study.study)
        tutor.command("stats", self.stats.stats)
        tutor.command("leaderboard", self.stats.leaderboard)
        tutor.action("quiz", self.quiz.action)
        tutor.action("review", self.review.action)
        tutor.free_text(self.quiz.typed_answer)
        tutor.help_note(lambda: "Quiz topics: " + ", ".join(self.bank.snapshot().topics) + ".")
