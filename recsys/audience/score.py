"""Exact top-k users per campaign: inner products over the user matrix, scanned in fixed chunks.

The user matrix is cut into row chunks whose bounds are a pure function of the user count and
``chunk_rows``. Each chunk's scores are one BLAS matrix product (campaign queries × chunk users, in
fixed query blocks), and every (score, user row) pair is packed into one unsigned 64-bit key whose
ascending order is the answer's total order — score descending, then user row ascending — so keeping
the k smallest keys is an exact top-k in which equal scores never reorder between runs, and merging
two answers is a partition of their keys.

Pruning: the k-th best key found so far is a floor no later chunk can go below (the final k-th best
is at least the k-th best of any subset), so the local scan keeps only chunk scores at or above it —
a comparison instead of a partition for every chunk after the first. The Dask executor scans chunks
independently without a floor; both compute the same scores for the same chunks and take the k
smallest keys, so they return bit-identical answers.

Lookalike campaigns are scored like any other: their query is the centroid of the seed users'
profile vectors (see ``recsys.campaigns.vectors``). One query per campaign keeps the whole job a single
batched scan; a kNN-over-seeds score would need one scan per seed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from recsys.errors import ConfigError

__all__ = ["DEFAULT_CHUNK_ROWS", "TopK", "PAD", "chunk_bounds", "search_chunk", "merge_topk", "merge_in_order",
           "finalize_topk", "score_floor"]

#: 131,072 users × 384 dims × 4 bytes = 200 MB per chunk: big enough for BLAS, small enough to ship.
DEFAULT_CHUNK_ROWS = 131_072
#: Queries per matrix product: bounds the score block to 256 × chunk_rows floats (128 MB by default).
QUERY_BLOCK = 256
#: The key of "no user" (padding): larger than every real key.
PAD = np.uint64(0xFFFFFFFFFFFFFFFF)
_LOW32 = np.uint64(0xFFFFFFFF)
_SIGN = np.uint64(0x80000000)


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


def _keys(scores: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """uint64 keys ordered as (score descending, row ascending); rows must fit in 32 bits."""
    bits = np.ascontiguousarray(scores, np.float32).view(np.uint32).astype(np.uint64)
    asc = np.where(bits & _SIGN, ~bits & _LOW32, bits | _SIGN)  # IEEE bits made order-preserving
    return ((_LOW32 - asc) << np.uint64(32)) | rows.astype(np.uint64)


def _decode(keys: np.ndarray) -> TopK:
    pad = keys == PAD
    asc = _LOW32 - (keys >> np.uint64(32))
    bits = np.where(asc & _SIGN, asc & ~_SIGN & _LOW32, ~asc & _LOW32).astype(np.uint32)
    scores = np.where(pad, np.float32(-np.inf), bits.view(np.float32))
    rows = np.where(pad, -1, (keys & _LOW32).astype(np.int64))
    return TopK(np.ascontiguousarray(scores, np.float32), np.ascontiguousarray(rows, np.int64))


def _smallest(keys: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` smallest keys per row (unordered), padded with ``PAD`` to width ``k``."""
    width = keys.shape[1]
    if width > k:
        return np.partition(keys, k - 1, axis=1)[:, :k]
    if width < k:
        return np.pad(keys, ((0, 0), (0, k - width)), constant_values=PAD)
    return keys


def score_floor(keys: np.ndarray) -> np.ndarray | None:
    """Per query, the score of the current k-th best answer (−inf while fewer than k are known): no user
    scoring below it can enter the top-k. None when no query has a floor yet."""
    if keys.shape[1] == 0:
        return None
    floor = _decode(keys.max(axis=1)[:, None]).scores[:, 0]
    return None if np.isneginf(floor).all() else floor


def _at_least(scores: np.ndarray, rows: np.ndarray, floor: np.ndarray, k: int) -> np.ndarray:
    """Keys of the scores at or above each row's floor (the k smallest of them), padded to width ``k``."""
    r, c = np.nonzero(scores >= floor[:, None])  # row-major: grouped by query
    out = np.full((len(scores), k), PAD, np.uint64)
    if len(r) == 0:
        return out
    keys = _keys(scores[r, c], rows[c])
    counts = np.bincount(r, minlength=len(scores))
    col = np.arange(len(r)) - np.repeat(np.cumsum(counts) - counts, counts)
    dense = np.full((len(scores), int(counts.max())), PAD, np.uint64)
    dense[r, col] = keys
    return _smallest(dense, k)


def search_chunk(queries: np.ndarray, users: np.ndarray, offset: int, k: int,
                 floor: np.ndarray | None = None) -> np.ndarray:
    """Keys of the exact top-``k`` of ``users`` (rows ``offset``… of the full matrix) for every query.

    ``floor`` (a score per query, see ``score_floor``) skips users scoring below it: a caller that already
    holds ``k`` answers at least that good loses nothing. Returns (n_queries, k) uint64, unordered.
    """
    n_q = len(queries)
    if offset + len(users) >= 1 << 32:
        raise ConfigError(f"{offset + len(users):,} users exceed 2**32 rows; split the user set")
    if len(users) == 0 or n_q == 0:
        return np.full((n_q, k), PAD, np.uint64)
    q = np.ascontiguousarray(queries, np.float32)
    u = np.ascontiguousarray(users, np.float32)
    rows = np.arange(offset, offset + len(u), dtype=np.uint64)
    out = np.empty((n_q, k), np.uint64)
    for a in range(0, n_q, QUERY_BLOCK):
        b = min(n_q, a + QUERY_BLOCK)
        scores = q[a:b] @ u.T
        if floor is None:  # the block's own k-th best score: keys are then built for about k users per query
            block_floor = (np.partition(scores, len(u) - k, axis=1)[:, len(u) - k] if k < len(u)
                           else np.full(b - a, -np.inf, np.float32))
        else:
            block_floor = floor[a:b]
        out[a:b] = _at_least(scores, rows, block_floor, k)
    return out


def merge_topk(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` best of two key answers per query (unordered inside; see ``finalize_topk``)."""
    return _smallest(np.concatenate([a, b], axis=1), k)


def finalize_topk(keys: np.ndarray) -> TopK:
    """Scores and rows per query in the total order: score descending, then user row ascending."""
    return _decode(np.sort(keys, axis=1))


def merge_in_order(parts: Iterable[np.ndarray], n_queries: int, k: int) -> TopK:
    """Fold chunk answers left to right; the caller passes them in chunk order."""
    acc = np.full((n_queries, k), PAD, np.uint64)
    for part in parts:
        acc = merge_topk(acc, part, k)
    return finalize_topk(acc)
