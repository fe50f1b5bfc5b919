"""The live quiz bank: authored items checked against the live knowledge, plus generated ones for the rest."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.core.answering.knowledge import KnowledgeService
from knowledge.entries import Entry
from knowledge.index import Encoder
from knowledge.quiz_bank import (
    BankWarning,
    QuizItem,
    default_quiz_paths,
    generate_items,
    load_bank,
    summarise,
    topic_of,
)

log = logging.getLogger(__name__)

GENERATED_PER_ENTRY = 2


@dataclass(frozen=True)
class BankSnapshot:
    """The items of one knowledge version, by id and by topic."""

    items: tuple[QuizItem, ...] = ()
    warnings: tuple[BankWarning, ...] = ()
    version: int = -1
    by_id: dict[str, QuizItem] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.by_id.update((item.id, item) for item in self.items)

    @property
    def topics(self) -> list[str]:
        """Every topic with at least one item, sorted."""
        return sorted({item.topic for item in self.items})

    def get(self, item_id: str) -> QuizItem | None:
        return self.by_id.get(item_id)

    def for_topic(self, topic: str | None) -> list[QuizItem]:
        """The items of a topic, or all of them."""
        return [item for item in self.items if topic is None or item.topic == topic]


class QuizBank:
    """Rebuilds its snapshot whenever the knowledge index changes version (an admin added or removed entries).

    Authored items whose entry no longer exists are dropped with a warning; entries no authored item tests,
    such as ones an admin added, get generated multiple-choice items (marked generated, ids `gen-...`).
    """

    def __init__(self, knowledge: KnowledgeService, encoder: Encoder, paths: Sequence[Path] | None = None,
                 generated_per_entry: int = GENERATED_PER_ENTRY) -> None:
        self._knowledge = knowledge
        self._encoder = encoder
        self._paths = list(paths) if paths is not None else default_quiz_paths()
        self._per_entry = generated_per_entry
        self._lock = threading.Lock()
        self._snapshot = BankSnapshot()

    def snapshot(self) -> BankSnapshot:
        """The items for the current knowledge version (slow on a change: call it off the event loop)."""
        version = self._knowledge.version
        if self._snapshot.version == version:
            return self._snapshot
        with self._lock:
            if self._snapshot.version != version:
                self._snapshot = self._build(version)
            return self._snapshot

    def topics(self) -> list[str]:
        """The quiz topics, without waiting for a rebuild (autocompletion must answer within Discord's 3 s): the
        snapshot's, or while a new one is due, the authored items' and those of the items to be generated."""
        if self._snapshot.version == self._knowledge.version:
            return self._snapshot.topics
        entries = self._knowledge.index.entries
        report = load_bank(self._paths, known_entry_ids={entry.id for entry in entries})
        covered = {item.entry for item in report.items}
        to_generate = {topic_of(entry) for entry in entries if entry.id not in covered and summarise(entry.answer)}
        return sorted({item.topic for item in report.items} | to_generate)

    def entry(self, entry_id: str) -> Entry | None:
        """The knowledge entry an item tests, if it still exists."""
        return self._knowledge.index.by_id.get(entry_id)

    def _build(self, version: int) -> BankSnapshot:
        entries = self._knowledge.index.entries
        report = load_bank(self._paths, known_entry_ids={entry.id for entry in entries})
        covered = {item.entry for item in report.items}
        uncovered = {entry.id for entry in entries} - covered
        generated: list[QuizItem] = []
        if uncovered:
            made = generate_items(entries, self._encoder.encode, per_entry=self._per_entry)
            generated = [item for item in made if item.entry in uncovered]
        log.info("quiz bank for knowledge v%d: %d authored, %d generated items, %d warnings", version,
                 len(report.items), len(generated), len(report.warnings))
        return BankSnapshot(tuple(report.items) + tuple(generated), report.warnings, version)
