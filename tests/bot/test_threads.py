"""Threads, "Ask torchtutor" and auto-answer channels through the real Tutor over the bundled knowledge: what each
person would see (which entry, privately or not, where it is posted) and what is stored."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from bot.core.conversation import Person, Reply, Request
from bot.db.models import Question
from bot.db.thread_models import ConversationThread
from bot.runtime import Runtime
from tests.bot.test_busy_database import fast_retries  # noqa: F401 - a fixture
from tests.db_locks import database_locked
from tests.helpers import wait_until

DATALOADER = "what is a DataLoader?"
WORKERS_FOLLOW_UP = "and how many workers should it have?"
WORKERS_ENTRY = "how-does-num-workers-in-a-dataloader-work-and-what-value-should-i-use"
DEVICE_ENTRY = "how-do-i-fix-expected-all-tensors-to-be-on-the-same-device"
TRACEBACK = """my training loop dies here, any idea?
```
Traceback (most recent call last):
  File "train.py", line 42, in <module>
    loss = model(x)
  File "/usr/lib/python3.11/site-packages/torch/nn/modules/module.py", line 1751, in _call_impl
    return forward_call(*args, **kwargs)
RuntimeError: Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!
```"""


def ask(runtime: Runtime, text: str, *, command: str = "ask", thread: str = "", target: str = "",
        user: str = "U1", manager: bool = False, channel: str = "C1", action: str | None = None) -> list[Reply]:
    request = Request(platform="slack", user=Person(user, user.lower(), can_manage_channel=manager),
                      channel_id=channel, workspace_id="T1", command=command, text=text, thread_id=thread,
                      target=target, action=action)
    return asyncio.run(runtime.tutor.collect(request))


def questions(runtime: Runtime, **where: Any) -> list[Question]:
    with runtime.database.session() as session:
        query = select(Question).order_by(Question.id)
        for name, value in where.items():
            query = query.where(getattr(Question, name) == value)
        return list(session.scalars(query))


def cited(reply: Reply) -> str:
    return (reply.citation or "").split(" ")[0]


def test_a_follow_up_declined_alone_is_answered_with_the_threads_question(runtime: Runtime) -> None:
    [alone] = ask(runtime, WORKERS_FOLLOW_UP)
    assert alone.kind == "no_match"  # what the same words get outside the thread

    [first] = ask(runtime, DATALOADER, thread="1700.1", target="1700.1")
    assert first.kind == "answer"
    [follow] = ask(runtime, WORKERS_FOLLOW_UP, command="thread_reply", thread="1700.1", user="U2")
    assert cited(follow) == WORKERS_ENTRY
    assert "A follow-up to “what is a DataLoader?”" in follow.text and f"`{WORKERS_ENTRY}`" in follow.text
    stored = questions(runtime, text=WORKERS_FOLLOW_UP)
    assert [(q.status, q.entry_id) for q in stored] == [("no_match", None), ("answered", WORKERS_ENTRY)]


def test_a_follow_up_that_stands_alone_is_answered_alone(runtime: Runtime) -> None:
    ask(runtime, "How do I move a tensor to the GPU?", thread="t1", target="t1")
    [follow] = ask(runtime, "and how do I convert it to numpy?", thread="t1", target="m2")
    assert "numpy" in cited(follow) and "A follow-up" not in follow.text


def test_replies_that_find_nothing_stay_quiet_and_thanks_is_not_stored(runtime: Runtime) -> None:
    ask(runtime, DATALOADER, thread="t1", target="t1")
    before = len(questions(runtime))
    assert ask(runtime, "thanks, that worked!", command="thread_reply", thread="t1") == []
    assert len(questions(runtime)) == before
    # Addressed with a mention, the same thread gets an honest decline.
    [declined] = ask(runtime, "what's the weather on Mars?", thread="t1", target="m3")
    assert declined.kind == "no_match"


def test_only_threads_the_bot_opened_get_unaddressed_answers(runtime: Runtime) -> None:
    # A mention inside someone else's thread (target is not the thread) is answered; later chatter there is not.
    [reply] = ask(runtime, DATALOADER, thread="human-thread", target="m9")
    assert reply.kind == "answer"
    assert ask(runtime, WORKERS_FOLLOW_UP, command="thread_reply", thread="human-thread") == []
    assert ask(runtime, WORKERS_FOLLOW_UP, command="thread_reply", thread="never-seen") == []


def test_ask_about_a_traceback_answers_privately_with_the_device_entry_and_posts_on_request(runtime: Runtime) -> None:
    [private] = ask(runtime, TRACEBACK, command="ask_message", target="1700.5")
    assert private.ephemeral and cited(private) == DEVICE_ENTRY
    assert "RuntimeError: Expected all tensors to be on the same device" in private.text
    post = private.buttons[0]
    assert post.label == "Post in thread" and post.id.startswith("ask:post:") and post.id.endswith(":1700.5")

    [refused] = ask(runtime, "", action=post.id, user="U2")
    assert refused.kind == "error" and refused.in_thread_of is None
    [posted] = ask(runtime, "", action=post.id)
    assert not posted.ephemeral and posted.in_thread_of == "1700.5" and cited(posted) == DEVICE_ENTRY
    [again] = ask(runtime, "", action=post.id)
    assert again.kind == "error" and "already" in again.text
    # The posted answer opened a thread: a follow-up there is read with the traceback's question.
    with runtime.database.session() as session:
        thread = session.scalars(select(ConversationThread).where(ConversationThread.thread_id == "1700.5")).one()
    assert thread.started and thread.entry_id == DEVICE_ENTRY
    # A message inside a thread is answered in that thread (named by its first message), not one of its own.
    [inside] = ask(runtime, TRACEBACK, command="ask_message", target="1700.9", thread="1700.1", user="U5")
    assert inside.buttons[0].id.endswith(":1700.1")


def test_autoanswer_is_for_managers_and_answers_only_when_sure(runtime: Runtime) -> None:
    [status] = ask(runtime, "status", command="autoanswer")
    assert "**off**" in status.text
    [refused] = ask(runtime, "on", command="autoanswer")
    assert refused.kind == "error"
    assert ask(runtime, "How do I save a model's weights and load them back?", command="autoask",
               thread="p0", target="p0") == []
    assert questions(runtime) == []  # a channel that did not opt in: nothing answered, nothing stored

    [on] = ask(runtime, "on", command="autoanswer", manager=True)
    assert "**on**" in on.text
    [answer] = ask(runtime, "How do I save a model's weights and load them back?", command="autoask",
                   thread="p1", target="p1", user="U7")
    assert answer.kind == "autoanswer" and "save" in cited(answer)
    assert ask(runtime, "anyone around for lunch later? my code is slow", command="autoask", thread="p2",
               target="p2") == []
    [gap] = questions(runtime, text="anyone around for lunch later? my code is slow")
    assert gap.status == "no_match"

    [off] = ask(runtime, "off", command="autoanswer", manager=True)
    assert "**off**" in off.text
    assert ask(runtime, "How do I save a model's weights and load them back?", command="autoask",
               thread="p3", target="p3") == []


def test_the_askers_thumbs_down_removes_an_autoanswer(runtime: Runtime) -> None:
    ask(runtime, "on", command="autoanswer", manager=True)
    [answer] = ask(runtime, DATALOADER, command="autoask", thread="p1", target="p1", user="U7")
    down = next(b.id for b in answer.buttons if b.id.startswith("feedback:down:"))
    [other] = ask(runtime, "", action=down, user="U8")
    assert not other.retracts
    [removed] = ask(runtime, "", action=down, user="U7")
    assert removed.retracts and removed.ephemeral
    # The bot stays out of a thread whose answer its asker removed.
    assert ask(runtime, WORKERS_FOLLOW_UP, command="thread_reply", thread="p1", user="U7") == []


def test_autoanswers_are_rate_limited_per_channel(runtime: Runtime) -> None:
    ask(runtime, "on", command="autoanswer", manager=True)
    ask(runtime, "on", command="autoanswer", manager=True, channel="C2")
    limit = runtime.settings.autoanswer_per_minute
    answered = [ask(runtime, DATALOADER + " " * i, command="autoask", thread=f"p{i}", target=f"p{i}")
                for i in range(limit + 2)]
    assert [len(a) for a in answered] == [1] * limit + [0, 0]
    assert len(ask(runtime, DATALOADER, command="autoask", thread="q1", target="q1", channel="C2")) == 1
    with runtime.database.session() as session:
        declined = session.scalar(select(func.count()).select_from(Question).where(Question.status == "no_match"))
    assert declined == 2  # the posts past the limit are noted, unanswered


def test_a_busy_database_costs_a_thread_its_context_not_its_answers(fast_retries, runtime: Runtime) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    ask(runtime, "on", command="autoanswer", manager=True)
    ask(runtime, DATALOADER, thread="t1", target="t1")
    assert len(ask(runtime, DATALOADER, command="autoask", thread="p0", target="p0")) == 1  # opt-ins now known
    with database_locked(runtime.settings.database_url, tables=("questions", "conversation_threads")):
        # A mention in the thread is answered on its own (its context cannot be read)...
        [mention] = ask(runtime, "How do I save a model's weights and load them back?", thread="t1", target="m2")
        assert mention.kind == "answer" and "A follow-up" not in mention.text
        # ...an unaddressed reply gets an answer where the thread can still be read (SQLite lets readers through a
        # writer's lock), else nothing, since whose thread it is cannot be told; never an error...
        replies = ask(runtime, WORKERS_FOLLOW_UP, command="thread_reply", thread="t1")
        assert [r.kind for r in replies] in ([], ["answer"])
        # ...and a clear post in an auto-answer channel is still answered.
        [auto] = ask(runtime, "How do I save a model's weights and load them back?", command="autoask",
                     thread="p1", target="p1")
        assert auto.kind == "autoanswer"
    wait_until(lambda: runtime.journal.pending == 0, timeout=30, what="the kept questions to be stored")
    assert len(questions(runtime, text="How do I save a model's weights and load them back?")) == 2
