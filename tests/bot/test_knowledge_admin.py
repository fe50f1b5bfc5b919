"""Admins add, edit and delete entries; every version is kept with who; the running index follows."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.admin.entries import EditConflict, EntryDraft
from bot.core.errors import BadInput, NotFound
from tests.conftest import SEED

SEED_ENTRY = "what-is-pytorch-and-what-are-its-two-main-features"
CLIP_QUESTION = "How do I clip gradient norms with clip_grad_norm_?"


@pytest.fixture
def seed_runtime(migrated, embedder):  # type: ignore[no-untyped-def]
    from bot.runtime import build_runtime

    rt = build_runtime(migrated, paths=[SEED], encoder=embedder)
    rt.start()
    yield rt
    rt.close()


def test_add_edit_delete_keep_every_version_with_who(seed_runtime) -> None:  # type: ignore[no-untyped-def]
    admin = seed_runtime.knowledge_admin
    draft = EntryDraft.create(question=CLIP_QUESTION, answer="Call `torch.nn.utils.clip_grad_norm_` after backward.",
                              aliases=["gradient clipping"], tags=["Training"], demo="train-tiny")
    added = admin.add(draft, by="alice")
    assert (added.version, added.changed_by, added.tags, added.demo) == (1, "alice", ("training",), "train-tiny")
    edited = admin.edit(added.entry_id, by="bob", answer="Clip after backward(), before step().",
                        expected_version=1)
    assert (edited.version, edited.changed_by, edited.question) == (2, "bob", CLIP_QUESTION)
    with pytest.raises(EditConflict):
        admin.edit(added.entry_id, by="carol", answer="stale form", expected_version=1)
    deleted = admin.delete(added.entry_id, by="carol")
    assert deleted.deleted and deleted.version == 3
    history = admin.history(added.entry_id)
    assert [(v.version, v.changed_by, v.deleted) for v in history] == [(3, "carol", True), (2, "bob", False),
                                                                         (1, "alice", False)]
    assert history[2].answer.startswith("Call `torch") and history[1].answer.startswith("Clip after")
    assert added.entry_id not in {i.entry.id for i in admin.list()}
    restored = admin.revert(added.entry_id, 1, by="dan")
    assert (restored.version, restored.deleted, restored.answer) == (4, False, history[2].answer)


def test_document_entries_are_edited_and_deleted_through_overrides(seed_runtime) -> None:  # type: ignore[no-untyped-def]
    admin = seed_runtime.knowledge_admin
    assert admin.history(SEED_ENTRY) == [] and admin.get(SEED_ENTRY).source == "document"
    admin.edit(SEED_ENTRY, by="alice", aliases=["what is torch for"], expected_version=0)
    info = admin.get(SEED_ENTRY)
    assert info.source == "document+database" and info.version == 1 and info.entry.aliases == ("what is torch for",)
    assert info.entry.answer.startswith("PyTorch is an open-source")  # fields not given are kept
    served = seed_runtime.knowledge.index.by_id[SEED_ENTRY]
    assert served.source == "database" and served.docs == ("torch", "torch.autograd")  # the document's Docs: kept
    admin.delete(SEED_ENTRY, by="bob")
    assert SEED_ENTRY not in seed_runtime.knowledge.index.by_id
    with pytest.raises(NotFound):
        admin.edit(SEED_ENTRY, by="carol", answer="x")


@pytest.mark.parametrize("changes, message", [
    ({"question": "?", "answer": "a"}, "question needs"),
    ({"question": "What is it?", "answer": "  "}, "answer is empty"),
    ({"question": "What is it?", "answer": "a", "demo": "no-such-demo"}, "no demo"),
    ({"question": "What is it?", "answer": "a", "tags": ["bad/tag"]}, "Tags are"),
])
def test_bad_drafts_are_refused(changes, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadInput, match=message):
        EntryDraft.create(**changes)


def test_ids_and_authors_are_checked(seed_runtime) -> None:  # type: ignore[no-untyped-def]
    admin = seed_runtime.knowledge_admin
    draft = EntryDraft.create(question="What is PyTorch, and what are its two main features?", answer="Short.")
    assert admin.add(draft, by="alice").entry_id == f"{SEED_ENTRY}-2"  # the slug is taken by the document
    with pytest.raises(BadInput, match="already an entry"):
        admin.add(draft, by="alice", entry_id=SEED_ENTRY)
    with pytest.raises(BadInput, match="who"):
        admin.add(draft, by="  ")
    with pytest.raises(NotFound):
        admin.history("no-such-entry")


def test_the_same_running_ask_service_answers_a_new_entry_at_once(seed_runtime) -> None:  # type: ignore[no-untyped-def]
    ask = seed_runtime.ask
    question = "how do I clip gradient norms with clip_grad_norm_"
    before = ask.answer(question)
    assert before.status == "no_match"
    version = seed_runtime.knowledge.version
    seed_runtime.knowledge_admin.add(EntryDraft.create(
        question=CLIP_QUESTION, answer="Call `torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)` after "
        "`loss.backward()` and before `optimizer.step()`.", aliases=["gradient clipping in pytorch"]), by="alice")
    assert seed_runtime.knowledge.version == version + 1
    after = asyncio.run(ask.answer_async(question))  # same service, no restart; the old cached decline is stale
    assert after.status == "answered" and after.hit.entry.question == CLIP_QUESTION


def test_a_change_saved_by_another_process_is_picked_up_by_polling(seed_runtime, migrated) -> None:  # type: ignore[no-untyped-def]
    from bot.core.admin.entries import KnowledgeAdmin
    from bot.db.engine import Database
    from knowledge.loader import load_entries
    from tests.helpers import wait_until

    other = KnowledgeAdmin(Database.from_url(migrated.database_url), documents=lambda: load_entries([SEED]))
    other.add(EntryDraft.create(question=CLIP_QUESTION, answer="Clip after backward."), by="elsewhere")
    wait_until(lambda: any(e.question == CLIP_QUESTION for e in seed_runtime.knowledge.index.entries), timeout=20,
               what="the watcher to rebuild the index")
    assert seed_runtime.knowledge.refresh() is False  # nothing new since
