"""Pure ranking functions: vectors and scores in, ranked (row, score) out."""

from __future__ import annotations

import numpy as np

# Weight of the dense (MiniLM cosine) score in the fused score; the lexical (normalised BM25) score gets the rest.
# Tuned with `torchtutor eval` on knowledge/eval/tuning_questions.tsv (see README, "Retrieval and abstention").
DENSE_WEIGHT = 0.6
# In ranking (not in the score a threshold judges), a match in an entry's answer counts this much of one in its
# question field: "overfitting what to do" is about the entry that asks about overfitting, not the dropout entry
# whose one-line answer says it prevents overfitting. Tuned like DENSE_WEIGHT, and on
# knowledge/eval/thirdparty_questions.tsv, whose terse entries have no phrasings or tags.
ANSWER_RANK_WEIGHT = 0.7


def semantic_search(queries: np.ndarray, corpus: np.ndarray, top_k: int = 10) -> list[list[tuple[int, float]]]:
    """Cosine similarity of unit vectors; for each query its top_k corpus rows, best first."""
    if corpus.shape[0] == 0:
        return [[] for _ in range(queries.shape[0])]
    scores = queries @ corpus.T
    k = min(top_k, corpus.shape[0])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    results = []
    for row, candidates in enumerate(top):
        ordered = candidates[np.argsort(-scores[row, candidates], kind="stable")]
        results.append([(int(i), float(scores[row, i])) for i in ordered])
    return results


def best_per_group(scores: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """The best score in each group, for a score per text and the group (entry) each text belongs to."""
    best = np.full(n_groups, -np.inf, dtype=np.float32)
    np.maximum.at(best, groups, scores.astype(np.float32))
    return best


def best_per_run(scores: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The best score of each run of rows, for rows stored entry after entry; starts[i] is entry i's first row.

    Every run must be non-empty. Much faster than `best_per_group` for the index's contiguous layout.
    """
    if starts.shape[0] == 0:
        return np.zeros(0, dtype=np.float32)
    return np.maximum.reduceat(scores.astype(np.float32, copy=False), starts)


def fuse(dense: np.ndarray, lexical: np.ndarray, dense_weight: float = DENSE_WEIGHT) -> np.ndarray:
    """One score per entry from a dense similarity (-1..1) and a normalised lexical score (0..1).

    A convex combination keeps the scale of both inputs, so one threshold means the same thing whatever the size
    of the knowledge base; rank fusion (RRF) would rank well but give no score to decline on.
    """
    return dense_weight * dense + (1.0 - dense_weight) * lexical


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first (ties: lower index first)."""
    if scores.shape[0] == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64)
    k = min(k, scores.shape[0])
    candidates = np.argpartition(-scores, k - 1)[:k]
    return candidates[np.lexsort((candidates, -scores[candidates]))]
