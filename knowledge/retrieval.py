"""Pure ranking functions: vectors in, ranked (row, score) out."""

from __future__ import annotations

import numpy as np


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
