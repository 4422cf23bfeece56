"""Exact inner-product search in numpy: the reference every approximate index is checked against."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recsys.index.base import SearchResult, VectorIndex

__all__ = ["ExactIndex", "exact_topk", "measure_recall"]


def exact_topk(queries: np.ndarray, vectors: np.ndarray, k: int) -> SearchResult:
    """Top-k by inner product with deterministic ties (lower position first)."""
    nq, n = len(queries), len(vectors)
    scores = np.full((nq, k), -np.inf, dtype=np.float32)
    ids = np.full((nq, k), -1, dtype=np.int64)
    if n == 0 or k == 0:
        return scores, ids
    kk = min(k, n)
    for start in range(0, nq, 1024):
        sims = queries[start : start + 1024] @ vectors.T
        part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk] if kk < n else np.tile(np.arange(n), (len(sims), 1))
        psc = np.take_along_axis(sims, part, axis=1)
        order = np.lexsort((part, -psc), axis=1)
        ids[start : start + len(sims), :kk] = np.take_along_axis(part, order, axis=1)
        scores[start : start + len(sims), :kk] = np.take_along_axis(psc, order, axis=1)
    return scores, ids


class ExactIndex(VectorIndex):
    kind = "exact-numpy"

    def __init__(self, vectors: np.ndarray) -> None:
        self._vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.dim = self._vectors.shape[1]

    def __len__(self) -> int:
        return len(self._vectors)

    def search(self, queries: np.ndarray, k: int) -> SearchResult:
        return exact_topk(self._check_queries(queries), self._vectors, k)

    def save(self, path: Path) -> None:
        np.save(path, self._vectors)

    @classmethod
    def load(cls, path: Path) -> ExactIndex:
        return cls(np.load(path, mmap_mode="r"))


def measure_recall(index: VectorIndex, vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    """Mean recall@k of `index` against exact search, counting ties with the k-th exact score as hits
    (catalogues hold identical texts, and which of several equal vectors comes back is arbitrary)."""
    vectors = np.asarray(vectors, np.float32)
    queries = np.ascontiguousarray(queries, np.float32)
    if len(queries) == 0 or len(vectors) == 0:
        return 1.0
    kk = min(k, len(vectors))
    _, approx = index.search(queries, kk)
    exact_scores, _ = exact_topk(queries, vectors, kk)
    kth = exact_scores[:, kk - 1]
    hits = 0
    for q, ids, bound in zip(queries, approx, kth, strict=True):
        ids = ids[ids >= 0]
        hits += int(np.sum(vectors[ids] @ q >= bound - 1e-5))
    return hits / (kk * len(queries))
