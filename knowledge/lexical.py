"""Lexical matching: a tokeniser that understands code identifiers, and BM25 scores normalised to 0..1."""

from __future__ import annotations

import functools
import logging
import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

# An identifier, possibly dotted (`torch.nn.functional`), or a word; `x.numpy()` keeps `x.numpy`.
_TOKEN = re.compile(r"[a-z0-9_]+(?:\.[a-z_][a-z0-9_]*)*")
_PARTS = re.compile(r"[._]+")

STOPWORDS = frozenset(
    """
    a about above across after again against all along also am among an and any are around as at be because been
    before behind being below beneath beside besides between beyond both but by can
    could did do does doing done during each else even ever every for from get gets getting got had has have
    having he her here hers him his how i if in inside into is it its itself just like me might more most much must
    my near no nor not now of off on once one only onto or other our out outside over own per please same she should
    so some such than
    that the their them then there these they this those through to too under until up us use used using very
    toward towards upon via want was way we were what when where whether which while who whom why will with within
    without would you your yours
    """.split()
)


def _stem(word: str) -> str:
    """A light suffix stripper for plain English words (identifiers are left exactly as written)."""
    if not word.isalpha() or len(word) <= 4:
        return word
    for suffix, replacement in (("ibility", "ibl"), ("ability", "abl"), ("ization", "iz"), ("isation", "is"),
                                ("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                break
            word = word[: len(word) - len(suffix)] + replacement
            break
    # A final "e" goes too, so that "shape"/"shapes" and "freeze"/"freezing" meet.
    return word[:-1] if word.endswith("e") and len(word) > 4 else word


def tokenize(text: str) -> list[str]:
    """Index terms: words stemmed; identifiers whole and in parts (`torch.no_grad` also gives `torch`, `no_grad`,
    `grad`); numbers, one-letter words and stopwords dropped."""
    tokens: list[str] = []
    for match in _TOKEN.finditer(text.lower()):
        tokens.extend(_terms(match.group(0)))
    return tokens


def _terms(token: str) -> list[str]:
    token = token.strip("._")
    if not token:
        return []
    if not _PARTS.search(token):
        if token in STOPWORDS or token.isdigit() or len(token) < 2:
            return []
        return [_stem(token)]
    terms = [token]
    if "." in token:
        terms += [part for part in token.split(".") if len(part) > 1]
    pieces = [p for p in _PARTS.split(token) if p]
    terms += [_stem(p) for p in pieces if p not in STOPWORDS and not p.isdigit() and len(p) > 1]
    return list(dict.fromkeys(terms))


class LexicalIndex:
    """BM25 (Lucene variant, via bm25s) over tokenised documents, with scores scaled to 0..1 per query.

    A raw BM25 score grows with the number and rarity of the query's terms, so it cannot be compared against a
    fixed threshold. Dividing by the query's total IDF (unknown terms counting as the rarest) turns it into an
    IDF-weighted share of the query that the document covers: about 1 when every query term occurs once in a
    document of average length, 0 when none does. Scores above 1 (repeated terms) are clipped.
    """

    def __init__(self, docs: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> None:
        _import_bm25s()
        import bm25s

        self.size = len(docs)
        self.k1, self.b = k1, b
        frequencies: Counter[str] = Counter()
        for doc in docs:
            frequencies.update(set(doc))
        self._idf = {term: _idf(self.size, count) for term, count in frequencies.items()}
        self.unknown_idf = _idf(self.size, 0)
        self._bm25 = None
        if frequencies:
            self._bm25 = bm25s.BM25(k1=k1, b=b, method="lucene")
            self._bm25.index([list(doc) for doc in docs], show_progress=False)

    @property
    def nbytes(self) -> int:
        """Memory held by the BM25 score matrix, in bytes."""
        if self._bm25 is None:
            return 0
        return int(sum(self._bm25.scores[key].nbytes for key in ("data", "indices", "indptr")))

    def idf(self, term: str) -> float:
        """The inverse document frequency of a term; unknown terms get the highest."""
        return self._idf.get(term, self.unknown_idf)

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """One score in 0..1 per document for the query terms."""
        query = list(dict.fromkeys(terms))
        if not query or self._bm25 is None or self.size == 0:
            return np.zeros(self.size, dtype=np.float32)
        known = [term for term in query if term in self._idf]
        if not known:
            return np.zeros(self.size, dtype=np.float32)
        raw = np.asarray(self._bm25.get_scores(known), dtype=np.float32)
        ceiling = sum(self.idf(term) for term in query)
        clipped: np.ndarray = np.clip(raw / ceiling, 0.0, 1.0)
        return clipped


@functools.cache
def _import_bm25s() -> None:
    """Import bm25s, undoing the DEBUG level it forces on its logger, so the application's logging config rules."""
    import bm25s  # noqa: F401

    logging.getLogger("bm25s").setLevel(logging.NOTSET)


def _idf(documents: int, frequency: int) -> float:
    return math.log(1.0 + (documents - frequency + 0.5) / (frequency + 0.5))
