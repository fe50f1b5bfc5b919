"""The bounded record every in-memory map of chat traffic uses (answers cached, messages posted, questions shown)."""

from bot.core.bounded import Bounded


def test_the_least_recently_put_entry_goes_first() -> None:
    seen: Bounded[str, int] = Bounded(2)
    seen.put("a", 1)
    seen.put("b", 2)
    seen.put("a", 3)  # put again: now the most recent
    seen.put("c", 4)
    assert list(seen.items()) == [("a", 3), ("c", 4)]


def test_a_capacity_of_zero_keeps_nothing() -> None:
    seen: Bounded[str, int] = Bounded(0)
    seen.put("a", 1)
    assert not seen
