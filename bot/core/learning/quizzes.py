"""Quizzes: personal quizzes and reviews, team rounds in study channels; grading, attempts and summaries.

Every step is a database transaction, so a restart or a second process picks up where the first left off:
the session row says which question is open, the attempts table (one row per question slot and person)
says who answered, and `quiz_prompts` says which question a person's next typed answer goes to.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.core.conversation import Button, Person, Reply, Request
from bot.core.errors import BadInput, Forbidden, NotFound, TorchtutorError
from bot.core.identity import find_channel, find_user, identify
from bot.core.learning.bank import BankSnapshot, QuizBank
from bot.core.learning.review import MISTAKES_ACTION, Reviewer, rating_for
from bot.core.learning.shown_questions import ShownQuestions, ShownSession, person_key
from bot.core.outbox import Post, Reach
from bot.core.telemetry import NoTelemetry, Telemetry
from bot.core.text import chat_escape, plain_text
from bot.db import quiz_repo as repo
from bot.db.availability import DatabaseUnavailable, is_unavailable
from bot.db.base import utcnow
from bot.db.engine import Database
from bot.db.journal import Journal
from bot.db.models import Channel, User
from bot.db.quiz_models import (
    ABANDONED,
    ACTIVE,
    FINISHED,
    PERSONAL,
    REVIEW,
    ROUND_MODES,
    STUDY,
    TEAM,
    QuizAttempt,
    QuizSession,
    StudySchedule,
)
from knowledge.grading import Grade, InvalidAnswer
from knowledge.index import Encoder
from knowledge.quiz_bank import QuizItem, presented, shuffled_order
from knowledge.quiz_kinds import BUTTON_KINDS, Option, grade, kind_of

log = logging.getLogger(__name__)

LABEL_LIMIT = 80
PROMPT_PREVIEW = 70
ROUND_KINDS = BUTTON_KINDS  # a round is answered with buttons, by everyone within the same window
TIME_FORMAT = "%H:%M:%S UTC"
DATE_FORMAT = "%a %d %b %H:%M UTC"

Clock = Callable[[], datetime]


class AlreadyAnswered(TorchtutorError):
    """This person already answered this question; the first answer counts."""

    def __init__(self, number: int) -> None:
        self.number = number
        super().__init__(f"You already answered question {number}; your first answer is the one that counts.")


class QuestionClosed(TorchtutorError):
    """The question a button or typed answer refers to is no longer open."""


@dataclass(frozen=True)
class QuizSettings:
    """How long quizzes and rounds are."""

    questions: int = 5
    round_questions: int = 3
    round_window_s: int = 60
    max_free_text: int = 2
    review_limit: int = 10


def pick_items(pool: Sequence[QuizItem], count: int, *, seen: dict[str, int], rng: random.Random,
               max_free_text: int, kinds: Sequence[str] | None = None) -> list[QuizItem]:
    """Up to `count` items, the ones this person has seen least first, at most `max_free_text` typed ones."""
    candidates = [item for item in pool if kinds is None or item.kind in kinds]
    rng.shuffle(candidates)
    candidates.sort(key=lambda item: seen.get(item.id, 0))
    picked: list[QuizItem] = []
    typed = 0
    for item in candidates:
        if kind_of(item).typed:
            if typed >= max_free_text:
                continue
            typed += 1
        picked.append(item)
        if len(picked) == count:
            break
    return picked


def resolve_topic(snapshot: BankSnapshot, text: str) -> str | None:
    """The topic a person named (exactly, or by a unique start or word), None for all; BadInput otherwise."""
    wanted = "-".join(text.strip().lower().replace("_", " ").split())
    if not wanted:
        return None
    topics = snapshot.topics
    if wanted in topics:
        return wanted
    matches = [t for t in topics if t.startswith(wanted) or wanted in t.split("-")]
    if len(matches) == 1:
        return matches[0]
    raise UnknownTopic(text.strip(), topics)


class UnknownTopic(BadInput):
    """A topic the bank does not have; says which ones it has."""

    def __init__(self, asked: str, topics: Sequence[str]) -> None:
        self.asked, self.topics = asked, tuple(topics)
        super().__init__(f"I have no quiz topic `{asked}`. Topics: {', '.join(topics)}.")


TOPIC_WORDS = ("topics", "topic", "?", "list")


def render_topics(topics: Sequence[str], asked: str | None = None) -> Reply:
    """The quiz topics, each a button that starts a quiz on it (Slack shows them as a select)."""
    head = f"I have no quiz topic `{chat_escape(asked)}`. " if asked else ""
    text = f"{head}Pick a topic, or use `/quiz TOPIC`. Topics: {', '.join(topics)}."
    buttons = tuple(Button(f"{TOPIC_ACTION}{topic}", topic) for topic in topics)
    return Reply(text, title="Quiz topics", buttons=(*buttons, Button(TOPIC_ACTION, "All topics")),
                 ephemeral=True, kind="quiz_topics")


TOPIC_ACTION = "quiz:topic:"


class QuizService:
    """The `/quiz` command, the `quiz:` buttons, typed answers, and the closing of channel rounds."""

    def __init__(self, database: Database, bank: QuizBank, encoder: Encoder, reviewer: Reviewer, *,
                 settings: QuizSettings | None = None, now: Clock = utcnow,
                 rng: random.Random | None = None, telemetry: Telemetry | None = None,
                 journal: Journal | None = None) -> None:
        self.database = database
        self.telemetry: Telemetry = telemetry or NoTelemetry()
        # Answers the database cannot take now are kept there and recorded, at the moment given, once it is back.
        self.journal = journal
        # What this process showed, so an answer can be checked and graded while the quiz tables can't be read.
        self.shown = ShownQuestions()
        if journal is not None:
            journal.register(ANSWER_RECORD, self._record_kept)
        self.bank = bank
        self.encoder = encoder
        self.reviewer = reviewer
        self.settings = settings or QuizSettings()
        self.now = now
        self.rng = rng or random.Random()
        self.pick = pick_items
        # Set by the study loop: called when a round opens, so its deadline is watched without waiting a tick.
        self.on_round_opened: Callable[[], None] | None = None

    # --- /quiz ---------------------------------------------------------------------------------------------

    async def quiz(self, request: Request) -> Reply:
        """A personal quiz, or a team round when the channel is a study channel."""
        snapshot = await asyncio.to_thread(self.bank.snapshot)
        if request.text.strip().lower() in TOPIC_WORDS:
            return render_topics(snapshot.topics)
        try:
            topic = resolve_topic(snapshot, request.text)
        except UnknownTopic as unknown:
            return render_topics(unknown.topics, unknown.asked)
        try:
            reply, team = await asyncio.to_thread(self._start_quiz, request, snapshot, topic)
        except IntegrityError:
            raise BadInput(await asyncio.to_thread(self._round_busy_message, request)) from None
        if team and self.on_round_opened is not None:
            self.on_round_opened()
        return reply

    def _start_quiz(self, request: Request, snapshot: BankSnapshot, topic: str | None) -> tuple[Reply, bool]:
        with self.database.transaction() as session:
            user, channel = identify(session, request)
            schedule = repo.get_schedule(session=session, channel_id=channel.id)
            if not request.is_direct and schedule is not None and schedule.active:
                return self._start_team(session, user, channel, snapshot, topic), True
            seen = repo.item_history(session=session, user_id=user.id)
            items = self.pick(snapshot.for_topic(topic), self.settings.questions, seen=seen, rng=self.rng,
                              max_free_text=self.settings.max_free_text)
            if not items:
                raise NotFound("There are no quiz questions yet.")
            return self.open_personal(session, user, channel, items, mode=PERSONAL, topic=topic), False

    def open_personal(self, session: Session, user: User, channel: Channel, items: Sequence[QuizItem], *,
                      mode: str, topic: str | None) -> Reply:
        """Start a personal quiz or review (closing any unfinished one here) and ask its first question."""
        now = self.now()
        replaced = repo.abandon_personal_sessions(session=session, owner_id=user.id, channel_id=channel.id, now=now)
        quiz = repo.create_session(session=session, mode=mode, channel=channel, owner=user,
                                   item_ids=[item.id for item in items], topic=topic, ephemeral=True, now=now,
                                   choice_orders=self.choice_orders(items))
        repo.set_prompt(session=session, user_id=user.id, channel_id=channel.id, session_id=quiz.id, slot=0, now=now)
        self.remember(session, quiz)
        self.shown.point(channel, user, quiz.id, 0)
        reply = render_question(quiz, 0, items[0], now=now)
        if replaced:
            reply = Reply(f"_Your unfinished quiz in this channel was closed; here is a new one._\n\n{reply.text}",
                          title=reply.title, buttons=reply.buttons, ephemeral=True, kind=reply.kind)
        return reply

    def _start_team(self, session: Session, user: User, channel: Channel, snapshot: BankSnapshot,
                    topic: str | None) -> Reply:
        recent = set(repo.recent_channel_items(session=session, channel_id=channel.id, mode=TEAM, limit=10))
        seen = {item_id: 1 for item_id in recent}
        items = self.pick(snapshot.for_topic(topic), self.settings.round_questions, seen=seen, rng=self.rng,
                          max_free_text=0, kinds=ROUND_KINDS)
        if not items:
            raise NotFound("There are no button questions on that topic for a team round.")
        now = self.now()
        quiz = repo.create_session(session=session, mode=TEAM, channel=channel, owner=user,
                                   item_ids=[item.id for item in items], topic=topic, ephemeral=False, now=now,
                                   window_seconds=self.settings.round_window_s,
                                   choice_orders=self.choice_orders(items))
        self.remember(session, quiz)
        starter = chat_escape(user.display_name or user.platform_user_id)
        reply = render_question(quiz, 0, items[0], now=now)
        intro = f"**Team round** started by {starter}: {len(items)} questions, everyone answers once.\n\n"
        return Reply(intro + reply.text, title=reply.title, buttons=reply.buttons, kind=reply.kind)

    def remember(self, session: Session, quiz: QuizSession) -> None:
        """Keep the session as just shown or read, to check answers to it while the database can't be read."""
        channel = session.get(Channel, quiz.channel_id)
        owner = session.get(User, quiz.owner_id) if quiz.owner_id else None
        if channel is not None:
            self.shown.remember(quiz, channel, owner)

    def choice_orders(self, items: Sequence[QuizItem]) -> list[list[int] | None]:
        """A fresh shown order for each item's choices, fixed when the session is created."""
        return [shuffled_order(item, self.rng) for item in items]

    def _round_busy_message(self, request: Request) -> str:
        with self.database.session() as session:
            channel = find_channel(session, request)
            quiz = repo.open_round(session=session, channel_id=channel.id, mode=TEAM) if channel else None
        if quiz is None:
            return "A team round is starting in this channel already; answer its questions."
        return (f"A team round is already running in this channel (question {quiz.current_index + 1} of "
                f"{quiz.total}); answer it, or wait for it to finish.")

    # --- buttons -------------------------------------------------------------------------------------------

    def topics_matching(self, typed: str) -> list[str]:
        """Quiz topics containing what was typed, those starting with it first (for autocompletion)."""
        wanted = "-".join(typed.strip().lower().replace("_", " ").split())
        found = [topic for topic in self.bank.topics() if wanted in topic]
        return sorted(found, key=lambda topic: (not topic.startswith(wanted), topic))

    async def action(self, request: Request) -> AsyncIterator[Reply]:
        """`quiz:answer:<session>:<slot>:<choice>`, `quiz:skip:<session>:<slot>`, `quiz:next:<session>`,
        `quiz:topic:<topic>` (a quiz on that topic, or on all of them)."""
        if (request.action or "").startswith(TOPIC_ACTION):
            yield await self.quiz(request.with_command("quiz", (request.action or "")[len(TOPIC_ACTION):] or ""))
            return
        parts = (request.action or "").split(":")
        verb = parts[1] if len(parts) > 1 else ""
        if len(parts) < 3 or not all(p.isdigit() for p in parts[2:4]):
            raise BadInput("That quiz button is malformed.")
        session_id = int(parts[2])
        if verb == "answer" and len(parts) == 5:
            replies = await self._answer(request, session_id, int(parts[3]), parts[4], typed=False)
        elif verb == "skip" and len(parts) == 4:
            replies = await self._answer(request, session_id, int(parts[3]), None, typed=False)
        elif verb == "next" and len(parts) == 3:
            replies = [await asyncio.to_thread(self._next, request, session_id)]
        elif verb == "explain" and len(parts) == 4:
            replies = [await asyncio.to_thread(self._explain, request, session_id, int(parts[3]))]
        else:
            raise BadInput("That quiz button is malformed.")
        for reply in replies:
            yield reply

    async def typed_answer(self, request: Request) -> AsyncIterator[Reply]:
        """A typed answer (`!answer TEXT` in the terminal) to this person's pending question in this channel."""
        session_id, slot, busy = await asyncio.to_thread(self._pending, request)
        for reply in await self._answer(request, session_id, slot, request.text, typed=True, busy=busy):
            yield reply

    def _pending(self, request: Request) -> tuple[int, int, bool]:
        """The question the typed answer goes to, and whether the database was too busy to say (this process's
        memory of what it asked said instead)."""
        try:
            return (*self._pending_now(request), False)
        except Exception as exc:
            found = self.shown.prompt(request) if self.journal is not None and is_unavailable(exc) else None
            if found is None:
                raise
            log.warning("the quiz tables are busy (%s); checking a typed answer against what was shown",
                        type(exc).__name__)
            return (*found, True)

    def _pending_now(self, request: Request) -> tuple[int, int]:
        with self.database.transaction() as session:
            user, channel = find_user(session, request), find_channel(session, request)
            prompt = (repo.get_prompt(session=session, user_id=user.id, channel_id=channel.id)
                      if user and channel else None)
            if prompt is None or user is None or channel is None:
                found = None
            else:
                quiz = repo.get_session(session=session, session_id=prompt.session_id)
                found = (prompt.session_id, prompt.slot)
                if quiz is None or quiz.state != ACTIVE or quiz.current_index != prompt.slot:
                    repo.clear_prompt(session=session, user_id=user.id, channel_id=channel.id)
                    found = (-1, -1)
        # Refusals are raised after the commit, so the stale prompt's clean-up is kept.
        if found is None:
            raise BadInput("There's no question waiting for a typed answer here. Start one with /quiz or /review.")
        if found == (-1, -1):
            raise QuestionClosed("The question you were answering has closed. Start a new one with /quiz.")
        return found

    async def _answer(self, request: Request, session_id: int, slot: int, given: str | None,
                      typed: bool, busy: bool = False) -> list[Reply]:
        snapshot = await asyncio.to_thread(self.bank.snapshot)
        quiz, busy = await asyncio.to_thread(self._check_open, request, session_id, slot, busy)
        item = snapshot.get(quiz.item_ids[slot])
        if item is None:
            raise QuestionClosed("That question is no longer in the quiz bank. Press Next or start a new /quiz.")
        item = shown(quiz, slot, item)
        if given is None and quiz.mode in ROUND_MODES:
            raise BadInput("There is no skipping in a round: just leave the question if you don't know.")
        if given is not None and not typed:
            given = _button_answer(item, given)
        result = await asyncio.to_thread(_grade, item, given, self.encoder)
        try:
            replies = await asyncio.to_thread(self._record_or_keep, request, quiz, slot, item, given or "", result,
                                              busy)
        except IntegrityError:
            raise AlreadyAnswered(slot + 1) from None
        if given:  # a skip is recorded but not graded
            self.telemetry.quiz_attempted(correct=bool(result.correct))
        return replies

    def _check_open(self, request: Request, session_id: int, slot: int, busy: bool) -> tuple[QuizSession, bool]:
        """The session, if this person may answer this slot now (otherwise a clear refusal), and whether the
        database was too busy to say, so that this process's memory of what it showed said instead."""
        if not busy:
            try:
                return self._check_open_now(request, session_id, slot), False
            except Exception as exc:
                if not (is_unavailable(exc) and self.journal is not None and self.shown.get(session_id)):
                    raise
                log.warning("the quiz tables are busy (%s); checking an answer against what was shown",
                            type(exc).__name__)
        shown = self.shown.get(session_id)
        if shown is None or self.journal is None:
            raise DatabaseUnavailable()
        check_shown(shown, slot, request, self.now())
        return shown.quiz, True

    def _check_open_now(self, request: Request, session_id: int, slot: int) -> QuizSession:
        with self.database.session() as session:
            quiz = repo.get_session(session=session, session_id=session_id)
            if quiz is None or not 0 <= slot < quiz.total:
                raise NotFound("That quiz no longer exists.")
            authorise(session, quiz, request)
            user = find_user(session, request)
            shown = self.shown.get(session_id)
            if shown is not None and (slot, person_key(request)) in shown.answered:  # kept, not yet recorded
                raise AlreadyAnswered(slot + 1)
            explain_closed(session, quiz, slot, user, self.now())
            self.remember(session, quiz)
            return quiz

    def _record_or_keep(self, request: Request, quiz: QuizSession, slot: int, item: QuizItem, given: str,
                        result: Grade, busy: bool) -> list[Reply]:
        """Record the graded answer, or keep it for when the database is back and say so (at once when `busy`:
        the check just met the lock, so the write would only wait for it too)."""
        replies = self._record_or_keep_now(request, quiz, slot, item, given, result, busy)
        self.shown.answered(quiz.id, slot, request, advance=quiz.mode not in ROUND_MODES)
        return replies

    def _record_or_keep_now(self, request: Request, quiz: QuizSession, slot: int, item: QuizItem, given: str,
                            result: Grade, busy: bool) -> list[Reply]:
        now = self.now()
        if self.journal is None:
            return self._record(request, quiz.id, slot, item, given, result, now)
        record = {"request": _request_record(request), "session_id": quiz.id, "slot": slot, "item_id": item.id,
                  "given": given, "grade": dataclasses.asdict(result), "at": now.isoformat()}
        if busy:
            self.journal.keep(ANSWER_RECORD, record)
        else:
            stored = self.journal.write_batch(
                ANSWER_RECORD, [record], lambda _: [self._record(request, quiz.id, slot, item, given, result, now)])
            if stored is not None:
                return stored[0]
        kept = "_Your answer is saved and will count once my database is back (it is busy right now)._"
        if quiz.mode in ROUND_MODES:
            reply = render_ack(quiz, slot, item, given, now)
        else:
            reply = render_result(quiz, slot, item, result, self._citation(item), not given)
        return [dataclasses.replace(reply, text=f"{reply.text}\n\n{kept}")]

    def _record_kept(self, record: dict[str, Any]) -> None:
        """A kept answer, recorded as of when it was given; one already recorded or no longer open is dropped."""
        item = self.bank.snapshot().get(record["item_id"])
        if item is None:
            log.warning("dropping a kept quiz answer: item %s is gone", record["item_id"])
            return
        try:
            self._record(_request_from(record["request"]), int(record["session_id"]), int(record["slot"]), item,
                         str(record["given"]), Grade(**{**record["grade"], "missing_points": tuple(
                             record["grade"].get("missing_points", ()))}), datetime.fromisoformat(record["at"]))
        except IntegrityError:
            pass  # recorded by an earlier try
        except TorchtutorError as exc:
            log.warning("dropping a kept quiz answer to session %s: %s", record["session_id"], exc)

    def _record(self, request: Request, session_id: int, slot: int, item: QuizItem, given: str,
                result: Grade, now: datetime) -> list[Reply]:
        with self.database.transaction() as session:
            user, channel = identify(session, request)
            quiz = repo.get_session(session=session, session_id=session_id)
            assert quiz is not None
            personal = quiz.mode not in ROUND_MODES
            if not repo.open_slot(session=session, session_id=session_id, slot=slot, now=now, advance=personal):
                quiz = repo.get_session(session=session, session_id=session_id)
                assert quiz is not None
                explain_closed(session, quiz, slot, user, now)
                raise QuestionClosed("That question has just closed.")
            skipped = not given
            repo.record_attempt(session=session, quiz=quiz, slot=slot, user=user, item_id=item.id, topic=item.topic,
                                entry_id=item.entry, kind=item.kind, generated=item.generated, answer=given,
                                correct=result.correct, score=result.score, feedback=result.feedback,
                                skipped=skipped, now=now, choice_order=shown_order(quiz, slot))
            self.reviewer.review(session=session, user_id=user.id, item=item, rating=rating_for(result, skipped),
                                 now=now)
            if not personal:
                return [render_ack(quiz, slot, item, given, now)]
            repo.clear_prompt(session=session, user_id=user.id, channel_id=channel.id)
            replies = [render_result(quiz, slot, item, result, self._citation(item), skipped)]
            if slot + 1 >= quiz.total:
                repo.finish_session(session=session, session_id=quiz.id, now=now)
                attempts = repo.session_attempts(session=session, session_id=quiz.id, user_id=user.id)
                replies.append(render_summary(quiz, attempts, self.bank.snapshot()))
            return replies

    def _next(self, request: Request, session_id: int) -> Reply:
        snapshot = self.bank.snapshot()
        with self.database.transaction() as session:
            quiz = repo.get_session(session=session, session_id=session_id)
            if quiz is None:
                raise NotFound("That quiz no longer exists.")
            authorise(session, quiz, request)
            user, _ = identify(session, request)
            if quiz.state == ABANDONED:
                raise QuestionClosed("That quiz was replaced by a newer one, so its buttons no longer work.")
            if quiz.state == FINISHED:
                attempts = repo.session_attempts(session=session, session_id=quiz.id, user_id=user.id)
                return render_summary(quiz, attempts, snapshot)
            slot = quiz.current_index
            item = snapshot.get(quiz.item_ids[slot])
            if item is None:
                raise QuestionClosed("That question is no longer in the quiz bank; start a new /quiz.")
            repo.set_prompt(session=session, user_id=user.id, channel_id=quiz.channel_id, session_id=quiz.id,
                            slot=slot, now=self.now())
            self.remember(session, quiz)
            channel = session.get(Channel, quiz.channel_id)
            if channel is not None:
                self.shown.point(channel, user, quiz.id, slot)
            return render_question(quiz, slot, item, now=self.now())

    def _explain(self, request: Request, session_id: int, slot: int) -> Reply:
        """The knowledge entry a graded question comes from, for the presser alone (never before it is graded)."""
        with self.database.session() as session:
            quiz = repo.get_session(session=session, session_id=session_id)
            if quiz is None or not 0 <= slot < quiz.total:
                raise NotFound("That quiz no longer exists.")
            if quiz.state == ACTIVE and slot >= quiz.current_index:
                raise BadInput("Answer the question first; the explanation comes with its result.")
            item_id = quiz.item_ids[slot]
        item = self.bank.snapshot().get(item_id)
        entry = self.bank.entry(item.entry) if item is not None else None
        if item is None or entry is None:
            raise NotFound("The knowledge entry behind that question is no longer in the knowledge base.")
        return Reply(entry.answer, title=entry.question, citation=self._citation(item), ephemeral=True,
                     kind="quiz_explain")

    def _citation(self, item: QuizItem) -> str:
        entry = self.bank.entry(item.entry)
        source = entry.source.rsplit("/", 1)[-1] if entry and entry.source else "knowledge base"
        return f"{item.entry} ({source})"

    # --- closing rounds ------------------------------------------------------------------------------------

    def close_due_rounds(self, now: datetime, platforms: Reach) -> list[Post]:
        """Close every round question on these platforms (and channels, see bot.db.quiz_repo.reachable) whose
        window has passed; the posts to send."""
        if not platforms:
            return []
        with self.database.session() as session:
            due = repo.due_rounds(session=session, now=now, platforms=platforms)
        posts: list[Post] = []
        for round_ in due:
            try:
                posts += self._close_question(round_.session_id, round_.slot, now)
            except Exception:
                log.exception("closing round %s question %s failed", round_.session_id, round_.slot + 1)
        return posts

    def _close_question(self, session_id: int, slot: int, now: datetime) -> list[Post]:
        snapshot = self.bank.snapshot()
        with self.database.transaction() as session:
            quiz = repo.get_session(session=session, session_id=session_id)
            if quiz is None or not repo.close_round_question(session=session, session_id=session_id, slot=slot,
                                                             now=now, total=quiz.total,
                                                             window_seconds=quiz.window_seconds or 60):
                return []  # another process closed it first
            quiz = repo.get_session(session=session, session_id=session_id)
            channel = session.get(Channel, quiz.channel_id) if quiz else None
            assert quiz is not None and channel is not None
            self.remember(session, quiz)
            answers = repo.slot_answers(session=session, session_id=session_id, slot=slot)
            item = snapshot.get(quiz.item_ids[slot])
            item = shown(quiz, slot, item) if item is not None else None
            schedule = session.get(StudySchedule, quiz.schedule_id) if quiz.schedule_id else None
            extra = ""
            if quiz.mode == STUDY and schedule is not None:
                extra = _study_extra(session, schedule, channel, answers)
            elif quiz.mode == TEAM:
                scores = repo.session_scores(session=session, session_id=session_id)
                extra = "**Scores:** " + " · ".join(f"{chat_escape(s.name)} {s.correct}" for s in scores) \
                    if scores else ""
            replies = [render_round_result(quiz, slot, item, answers, extra, self._citation(item) if item else None)]
            if quiz.state == ACTIVE:
                next_item = snapshot.get(quiz.item_ids[quiz.current_index])
                if next_item is not None:
                    replies.append(render_question(quiz, quiz.current_index, next_item, now=now))
            elif quiz.mode == TEAM:
                replies.append(render_round_summary(quiz, repo.session_scores(session=session,
                                                                               session_id=session_id)))
            return [Post(channel.platform, channel.workspace_id, channel.platform_channel_id, r) for r in replies]


ANSWER_RECORD = "quiz_answer"


def _request_record(request: Request) -> dict[str, Any]:
    """What a kept answer needs of its request, as JSON."""
    return {"platform": request.platform, "user": [request.user.platform_id, request.user.name],
            "channel_id": request.channel_id, "workspace_id": request.workspace_id,
            "channel_name": request.channel_name, "is_direct": request.is_direct}


def _request_from(record: dict[str, Any]) -> Request:
    return Request(platform=record["platform"], user=Person(record["user"][0], record["user"][1]),
                   channel_id=record["channel_id"], workspace_id=record["workspace_id"],
                   channel_name=record["channel_name"], is_direct=bool(record["is_direct"]))


# --- who may answer ------------------------------------------------------------------------------------------


def authorise(session: Session, quiz: QuizSession, request: Request) -> None:
    """Only the owner presses a personal quiz's buttons; a round's buttons work for anyone in its channel."""
    channel = session.get(Channel, quiz.channel_id)
    owner = session.get(User, quiz.owner_id) if quiz.owner_id else None
    check_presser(quiz, request,
                  channel=(channel.platform, channel.workspace_id, channel.platform_channel_id) if channel else None,
                  owner=(owner.platform, owner.platform_user_id) if owner else None,
                  owner_name=(owner.display_name or owner.platform_user_id) if owner else None)


def check_presser(quiz: QuizSession, request: Request, *, channel: tuple[str, str | None, str] | None,
                  owner: tuple[str, str] | None, owner_name: str | None) -> None:
    """`authorise`, given the session's channel and owner as (platform, ...) keys."""
    if quiz.mode in ROUND_MODES:
        if channel is None or channel != (request.platform, request.workspace_id, request.channel_id):
            raise Forbidden("That question belongs to another channel's round.")
        return
    if owner is None or owner != (request.platform, request.user.platform_id):
        name = chat_escape(owner_name) if owner_name else "someone else"
        raise Forbidden(f"That quiz is {name}'s, so only they can answer it. Start your own with /quiz.")


def check_shown(shown: ShownSession, slot: int, request: Request, now: datetime) -> None:
    """`authorise` and `explain_closed` against what this process showed, when the database can't be read."""
    if not 0 <= slot < shown.quiz.total:
        raise NotFound("That quiz no longer exists.")
    check_presser(shown.quiz, request, channel=shown.channel, owner=shown.owner, owner_name=shown.owner_name)
    if (slot, person_key(request)) in shown.answered:
        raise AlreadyAnswered(slot + 1)
    explain_not_open(shown.quiz, slot, now)


def explain_closed(session: Session, quiz: QuizSession, slot: int, user: User | None, now: datetime) -> None:
    """Raise the reason this person cannot answer `slot` now; return quietly when it is open to them."""
    if user is not None and repo.find_attempt(session=session, session_id=quiz.id, slot=slot, user_id=user.id):
        raise AlreadyAnswered(slot + 1)
    explain_not_open(quiz, slot, now)


def explain_not_open(quiz: QuizSession, slot: int, now: datetime) -> None:
    """Raise the reason `slot` of the session is not open now (for anyone)."""
    number = slot + 1
    if quiz.state == ABANDONED:
        raise QuestionClosed("That quiz was replaced by a newer one, so its buttons no longer work. "
                             "Start again with /quiz.")
    if quiz.state == FINISHED:
        what = "round" if quiz.mode in ROUND_MODES else "quiz"
        raise QuestionClosed(f"That {what} has finished, so its buttons no longer work.")
    if slot < quiz.current_index:
        raise QuestionClosed(f"Time's up: question {number} has closed. Its answer and results are posted in "
                             "the channel.")
    if slot > quiz.current_index:
        raise QuestionClosed(f"Question {number} isn't open yet.")
    if quiz.window_ends_at is not None and now >= quiz.window_ends_at:
        raise QuestionClosed(f"Time's up for question {number}: the answer and results are on their way.")


# --- what was shown -----------------------------------------------------------------------------------------


def shown_order(quiz: QuizSession, slot: int) -> list[int] | None:
    """The order a slot's choices were shown in, if the session stored one."""
    orders = quiz.choice_orders or []
    return orders[slot] if slot < len(orders) else None


def shown(quiz: QuizSession, slot: int, item: QuizItem) -> QuizItem:
    """The item as this session shows it in `slot`: letters and buttons number the choices as displayed."""
    return presented(item, shown_order(quiz, slot))


# --- grading ------------------------------------------------------------------------------------------------


def _button_answer(item: QuizItem, value: str) -> str:
    """The answer a button stands for: one of the values the item's kind gives its buttons."""
    if any(option.value == value for option in kind_of(item).options(item)):
        return value
    raise BadInput("That button doesn't belong to this question.")


def _grade(item: QuizItem, given: str | None, encoder: Encoder) -> Grade:
    if given is None:
        return Grade(False, 0.0, f"⏭ **Skipped.** {right_answer(item)}")
    try:
        return grade(item, given, encoder.encode)
    except InvalidAnswer as exc:
        raise BadInput(f"I couldn't read that answer: {exc.reason}.") from None


def right_answer(item: QuizItem) -> str:
    """The right answer and why, as markdown."""
    return kind_of(item).explain(item)


# --- rendering ----------------------------------------------------------------------------------------------


def label(text: str, limit: int = LABEL_LIMIT) -> str:
    """Text as plain text, shortened to fit a button."""
    text = plain_text(text)  # before cutting, so marks do not use up the room
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def question_title(quiz: QuizSession, slot: int, topic: str, word: str = "Question") -> str:
    """"Question 2 of 5 · autograd" (a review says Review; a scheduled question has no count)."""
    if quiz.mode == STUDY:
        return f"Study {word.lower()} · {topic}"
    if quiz.mode == REVIEW and word == "Question":
        word = "Review"
    return f"{word} {slot + 1} of {quiz.total} · {topic}"


def render_question(quiz: QuizSession, slot: int, item: QuizItem, *, now: datetime) -> Reply:
    """A question with its answer buttons, its choices in the order the session stored for the slot."""
    item = shown(quiz, slot, item)
    prefix = f"quiz:answer:{quiz.id}:{slot}"
    text = chat_escape(item.prompt)
    kind = kind_of(item)
    options = kind.options(item)
    if kind.listed:
        text += "\n\n" + "\n".join(_said(option) for option in options)
    if kind.instruction:
        text += "\n\n" + kind.instruction
    buttons = [Button(f"{prefix}:{option.value}", label(option.label)) for option in options]
    if quiz.mode in ROUND_MODES and quiz.window_ends_at is not None:
        text += f"\n\n⏱ Everyone may answer once, until {_when(quiz.window_ends_at, now)}."
    else:
        buttons.append(Button(f"quiz:skip:{quiz.id}:{slot}", "Skip"))
    if item.generated:
        text += "\n\n_This question was generated from the knowledge base._"
    return Reply(text, title=question_title(quiz, slot, item.topic), buttons=tuple(buttons),
                 ephemeral=quiz.ephemeral, kind="quiz_question")


def render_result(quiz: QuizSession, slot: int, item: QuizItem, result: Grade, citation: str,
                  skipped: bool) -> Reply:
    """A graded answer in a personal quiz, with Explain, and Next unless it was the last question."""
    buttons: tuple[Button, ...] = (explain_button(quiz, slot),)
    if slot + 1 < quiz.total:
        buttons += (Button(f"quiz:next:{quiz.id}", "Next", style="primary"),)
    return Reply(result.feedback, title=question_title(quiz, slot, item.topic, "Answer"), citation=citation,
                 buttons=buttons, ephemeral=quiz.ephemeral, kind="quiz_result")


def explain_button(quiz: QuizSession, slot: int) -> Button:
    """Shows the knowledge entry a graded question comes from, without leaving the chat."""
    return Button(f"quiz:explain:{quiz.id}:{slot}", "Explain")


def render_summary(quiz: QuizSession, attempts: Sequence[QuizAttempt], snapshot: BankSnapshot) -> Reply:
    """The end of a personal quiz or review: the score and one line per question."""
    lines = []
    correct = 0
    for attempt in attempts:
        item = snapshot.get(attempt.item_id)
        prompt = label(item.prompt.splitlines()[0], PROMPT_PREVIEW) if item else attempt.item_id
        mark = "⏭" if attempt.skipped else "✅" if attempt.correct else "❌"
        correct += bool(attempt.correct)
        lines.append(f"{mark} {attempt.slot + 1}. {chat_escape(prompt)}")
    total = quiz.total
    percent = f"{correct / total:.0%}" if total else "0%"
    missed = correct < total
    tail = ("The ones you missed come back in /review when they are due, or go over them now with "
            "/review mistakes." if missed else "Perfect score! 🎉")
    word = "Review" if quiz.mode == REVIEW else "Quiz"
    buttons = (Button(MISTAKES_ACTION, "Review my mistakes", style="primary"),) if missed else ()
    return Reply("\n".join(lines) + f"\n\n{tail}", title=f"{word} complete · {correct} of {total}",
                 fields=(("Score", f"{correct}/{total} ({percent})"),), buttons=buttons, ephemeral=quiz.ephemeral,
                 kind="quiz_summary")


def render_ack(quiz: QuizSession, slot: int, item: QuizItem, given: str, now: datetime) -> Reply:
    """A round answer received: what was recorded, and when the answer comes (nothing given away)."""
    option = next((o for o in kind_of(item).options(item) if o.value == given), Option(given, given.capitalize()))
    said = _said(option)
    when = _when(quiz.window_ends_at, now) if quiz.window_ends_at else "the window closes"
    return Reply(f"Got it: you answered {said} to question {slot + 1}. The answer and results come at {when}.",
                 ephemeral=True, kind="quiz_ack")


def _said(option: Option) -> str:
    """An option as a reply names it: "**B)** its text", or "**True**"."""
    return f"**{option.mark})** {chat_escape(option.text)}" if option.mark else f"**{chat_escape(option.text)}**"


def render_round_result(quiz: QuizSession, slot: int, item: QuizItem | None,
                        answers: Sequence[tuple[QuizAttempt, User]], extra: str, citation: str | None) -> Reply:
    """A round question's answer and who got it right, posted to the channel when its window closes."""
    text = right_answer(item) if item else "That question is no longer in the quiz bank."
    right = [chat_escape(u.display_name or u.platform_user_id) for a, u in answers if a.correct]
    wrong = [chat_escape(u.display_name or u.platform_user_id) for a, u in answers if not a.correct]
    if not answers:
        text += "\n\nNobody answered this one."
    else:
        if right:
            text += "\n\n✅ Right: " + ", ".join(right)
        if wrong:
            text += ("\n" if right else "\n\n") + "❌ Wrong: " + ", ".join(wrong)
    if extra:
        text += "\n\n" + extra
    topic = item.topic if item else (quiz.topic or "quiz")
    return Reply(text, title=question_title(quiz, slot, topic, "Answer"), citation=citation,
                 buttons=(explain_button(quiz, slot),) if item else (), kind="quiz_round_result")


def render_round_summary(quiz: QuizSession, scores: Sequence[repo.Score]) -> Reply:
    """The final standings of a team round."""
    if not scores:
        return Reply("Nobody answered this round. Try again with /quiz.", title="Round over", kind="quiz_summary")
    medals = ["🥇", "🥈", "🥉"]
    lines = [f"{medals[i] if i < 3 else f'{i + 1}.'} {chat_escape(s.name)}: {s.correct} of {quiz.total}"
             for i, s in enumerate(scores)]
    return Reply("\n".join(lines), title="Round over", fields=(("Questions", str(quiz.total)),), kind="quiz_summary")


def _study_extra(session: Session, schedule: StudySchedule, channel: Channel,
                 answers: Sequence[tuple[QuizAttempt, User]]) -> str:
    """Update the channel's streak after a scheduled question and describe it with the leaderboard."""
    if any(a.correct for a, _ in answers):
        schedule.streak += 1
        schedule.best_streak = max(schedule.best_streak, schedule.streak)
        streak = f"🔥 Streak: {schedule.streak} in a row answered right (best {schedule.best_streak})."
    else:
        had = schedule.streak
        schedule.streak = 0
        streak = "Streak reset: nobody got this one." if had else "No streak yet: nobody got this one."
    ranking = repo.channel_ranking(session=session, channel_id=channel.id, limit=5)
    board = " · ".join(f"{i + 1}. {chat_escape(s.name)} {s.correct}" for i, s in enumerate(ranking))
    parts = [streak]
    if board:
        parts.append(f"**Leaderboard:** {board}")
    if schedule.active:
        parts.append(f"Next question: {schedule.next_fire_at.strftime(DATE_FORMAT)}.")
    return "\n".join(parts)


def _when(moment: datetime, now: datetime) -> str:
    """A deadline as a time, with how far away it is."""
    seconds = max(0, int((moment - now).total_seconds()))
    span = f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"
    if seconds >= 86_400:
        return f"{moment.strftime(DATE_FORMAT)} (in {seconds // 3600} h)"
    return f"{moment.strftime(TIME_FORMAT)} (in {span})"
