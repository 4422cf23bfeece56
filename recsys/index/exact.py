"""Exact inner-product search in numpy: the reference every approximate index is checked against."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recsys.index.base import SearchResult, VectorIndex

__all__ = ["ExactIndex", "exact_topk", "measure_recall", "GroundTruth", "ground_truth", "recall_of"]

#: Query rows per matrix product, so the (rows × n) similarity block stays near 256 MB at any catalogue size.
_BLOCK_FLOATS = 1 << 26


def exact_topk(queries: np.ndarray, vectors: np.ndarray, k: int) -> SearchResult:
    """Top-k by inner product with deterministic ties (lower position first)."""
    nq, n = len(queries), len(vectors)
    scores = np.full((nq, k), -np.inf, dtype=np.float32)
    ids = np.full((nq, k), -1, dtype=np.int64)
    if n == 0 or k == 0:
        return scores, ids
    kk = min(k, n)
    step = max(1, min(1024, _BLOCK_FLOATS // n))
    for start in range(0, nq, step):
        sims = queries[start : start + step] @ vectors.T
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


@dataclass(frozen=True)
class GroundTruth:
    """Exact answers to a query set, computed once and reused across many candidate indexes."""

    vectors: np.ndarray
    queries: np.ndarray
    k: int
    kth: np.ndarray  # (nq,) exact k-th best score per query


def ground_truth(vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> GroundTruth:
    vectors = np.asarray(vectors, np.float32)
    queries = np.ascontiguousarray(queries, np.float32)
    kk = min(k, len(vectors))
    if kk == 0 or len(queries) == 0:
        return GroundTruth(vectors, queries, kk, np.zeros(len(queries), np.float32))
    exact_scores, _ = exact_topk(queries, vectors, kk)
    return GroundTruth(vectors, queries, kk, exact_scores[:, kk - 1])


def recall_of(index: VectorIndex, truth: GroundTruth) -> float:
    """Mean recall@k of `index` against exact search, counting ties with the k-th exact score as hits
    (catalogues hold identical texts, and which of several equal vectors comes back is arbitrary)."""
    if truth.k == 0 or len(truth.queries) == 0:
        return 1.0
    _, approx = index.search(truth.queries, truth.k)
    hits = 0
    for q, ids, bound in zip(truth.queries, approx, truth.kth, strict=True):
        ids = ids[ids >= 0]
        hits += int(np.sum(truth.vectors[ids] @ q >= bound - 1e-5))
    return hits / (truth.k * len(truth.queries))


def measure_recall(index: VectorIndex, vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    """Mean recall@k of `index` against exact search over `vectors` (ties with the k-th score count)."""
    return recall_of(index, ground_truth(vectors, queries, k))
