"""Exact top-k users per campaign: inner products over the user matrix, scanned in fixed chunks.

The user matrix is cut into row chunks whose bounds are a pure function of the user count and
``chunk_rows``; every chunk is searched with ``faiss.knn`` (exact inner product, BLAS-batched over
the campaign queries) and the chunk answers are merged *in chunk order*. The local and the Dask executor
run this same chunk function on the same chunks and merge in the same order, so they return
bit-identical scores and rows. The final order per campaign is total — score descending, then user
row ascending — so equal scores never reorder between runs.

Lookalike campaigns are scored like any other: their query is the centroid of the seed users'
profile vectors (see ``recsys.campaigns.vectors``). One query per campaign keeps the whole job a single
batched scan; a kNN-over-seeds score would need one scan per seed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import faiss
import numpy as np

from recsys.errors import ConfigError

__all__ = ["DEFAULT_CHUNK_ROWS", "TopK", "chunk_bounds", "search_chunk", "merge_topk", "merge_in_order",
           "finalize_topk"]

#: 131,072 users × 384 dims × 4 bytes = 200 MB per chunk: big enough for BLAS, small enough to ship.
DEFAULT_CHUNK_ROWS = 131_072


@dataclass(frozen=True)
class TopK:
    """Per query: ``k`` user rows and their scores; padding is row −1 with score −inf."""

    scores: np.ndarray  # (n_queries, k) float32
    rows: np.ndarray  # (n_queries, k) int64

    @property
    def k(self) -> int:
        return int(self.scores.shape[1])


def chunk_bounds(n_users: int, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> list[tuple[int, int]]:
    """Half-open row ranges covering ``range(n_users)`` in order, each at most ``chunk_rows`` long."""
    if chunk_rows < 1:
        raise ConfigError(f"chunk_rows must be >= 1, got {chunk_rows}")
    return [(a, min(a + chunk_rows, n_users)) for a in range(0, n_users, chunk_rows)]


def _pad(scores: np.ndarray, rows: np.ndarray, k: int) -> TopK:
    missing = k - scores.shape[1]
    if missing > 0:
        scores = np.pad(scores, ((0, 0), (0, missing)), constant_values=-np.inf)
        rows = np.pad(rows, ((0, 0), (0, missing)), constant_values=-1)
    return TopK(np.ascontiguousarray(scores, np.float32), np.ascontiguousarray(rows, np.int64))


def search_chunk(queries: np.ndarray, users: np.ndarray, offset: int, k: int) -> TopK:
    """Exact inner-product top-k of ``users`` (rows ``offset``… of the full matrix) for every query."""
    if len(users) == 0 or len(queries) == 0:
        return _pad(np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64), k)
    k_eff = min(k, len(users))
    scores, idx = faiss.knn(np.ascontiguousarray(queries, np.float32), np.ascontiguousarray(users, np.float32),
                            k_eff, metric=faiss.METRIC_INNER_PRODUCT)
    rows = np.where(idx >= 0, idx.astype(np.int64) + offset, -1)
    return _pad(scores, rows, k)


def merge_topk(a: TopK, b: TopK, k: int) -> TopK:
    """The best ``k`` of two answers per query (unordered inside; see ``finalize_topk``)."""
    scores = np.concatenate([a.scores, b.scores], axis=1)
    rows = np.concatenate([a.rows, b.rows], axis=1)
    if scores.shape[1] <= k:
        return _pad(scores, rows, k)
    keep = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return TopK(np.take_along_axis(scores, keep, axis=1), np.take_along_axis(rows, keep, axis=1))


def finalize_topk(t: TopK) -> TopK:
    """Sort each query's answer by score descending, then user row ascending (a total order)."""
    order = np.lexsort((t.rows, -t.scores), axis=-1)
    return TopK(np.take_along_axis(t.scores, order, axis=1), np.take_along_axis(t.rows, order, axis=1))


def merge_in_order(parts: Iterable[TopK], n_queries: int, k: int) -> TopK:
    """Fold chunk answers left to right; the caller passes them in chunk order."""
    acc = _pad(np.zeros((n_queries, 0), np.float32), np.zeros((n_queries, 0), np.int64), k)
    for part in parts:
        acc = merge_topk(acc, part, k)
    return finalize_topk(acc)
