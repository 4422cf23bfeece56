"""Top-k selection with history exclusion and a fixed, seeded tie order.

Ties are broken exactly, not by adding noise: each float32 score is mapped to an order-preserving
integer and packed with the item's tie rank into one int64 key, so ``argpartition`` sees distinct keys.
The evaluation passes ``EvalData.tie_rank``, a seeded random permutation of the catalogue: breaking ties
by catalogue position or product id would favour whichever items happen to sort first (variant copies
of one listing sit next to each other in id order), and would make metrics depend on how ids were made.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from recsys.errors import ConfigError

__all__ = ["top_k", "rank_in_batches", "sortable_keys", "DEFAULT_BATCH"]

DEFAULT_BATCH = 1024
_LOW32 = np.int64(0xFFFFFFFF)


def _ordered_int(scores: np.ndarray) -> np.ndarray:
    """Map float32 scores to int64 values with the same order (-0.0 == 0.0, NaN → -inf)."""
    s = np.where(np.isnan(scores), np.float32(-np.inf), scores).astype(np.float32) + np.float32(0.0)
    bits = s.view(np.int32).astype(np.int64)
    return np.where(bits < 0, bits ^ np.int64(0x7FFFFFFF), bits)


def sortable_keys(scores: np.ndarray, tie_rank: np.ndarray) -> np.ndarray:
    """int64 keys, larger = better: score first, then lower tie rank. All keys in a row are distinct."""
    n_items = scores.shape[-1]
    if tie_rank.shape != (n_items,):
        raise ConfigError(f"tie_rank has shape {tie_rank.shape}, expected ({n_items},) to match the scores")
    tie = (n_items - 1 - tie_rank.astype(np.int64)) & _LOW32
    return (_ordered_int(scores) << 32) | tie


def top_k(
    scores: np.ndarray,
    exclude: sp.csr_matrix | None,
    k: int,
    tie_rank: np.ndarray,
) -> np.ndarray:
    """Indices of the ``k`` best items per row, best first, shape ``(n_rows, k)``.

    ``exclude`` (same shape as ``scores``; non-zeros are excluded) removes each user's history. Items
    scored ``-inf`` or NaN are never returned either; rows with fewer than ``k`` eligible items are
    padded with -1. ``scores`` is not modified.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ConfigError(f"scores must be 2-D (users × items), got shape {scores.shape}")
    n_rows, n_items = scores.shape
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    s = scores.astype(np.float32, copy=True)
    s[np.isnan(s)] = -np.inf
    if exclude is not None:
        if exclude.shape != scores.shape:
            raise ConfigError(f"exclude has shape {exclude.shape}, scores {scores.shape}; pass the same rows")
        rows, cols = exclude.nonzero()
        s[rows, cols] = -np.inf
    kk = min(k, n_items)
    keys = sortable_keys(s, tie_rank)
    if kk < n_items:
        part = np.argpartition(keys, n_items - kk, axis=1)[:, n_items - kk :]
    else:
        part = np.broadcast_to(np.arange(n_items), (n_rows, n_items))
    part_keys = np.take_along_axis(keys, part, axis=1)
    order = np.argsort(part_keys, axis=1)[:, ::-1]  # keys are distinct, so the order is total
    best = np.take_along_axis(part, order, axis=1)
    best_scores = np.take_along_axis(s, best, axis=1)
    best = np.where(np.isneginf(best_scores), -1, best)
    if kk < k:
        best = np.hstack([best, np.full((n_rows, k - kk), -1, dtype=best.dtype)])
    return best.astype(np.int64)


def rank_in_batches(
    score_fn: Callable[[np.ndarray], np.ndarray],
    user_rows: np.ndarray,
    exclude: sp.csr_matrix,
    k: int,
    tie_rank: np.ndarray,
    batch_size: int = DEFAULT_BATCH,
    on_batch: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None,
) -> np.ndarray:
    """``top_k`` over ``user_rows`` in batches, so only ``batch_size × n_items`` scores live at once.

    ``exclude`` is indexed by the same rows as ``score_fn`` (e.g. ``EvalData.matrix``). ``on_batch``
    receives ``(batch_positions, batch_rows, scores)`` for callers that need the raw scores too.
    """
    user_rows = np.asarray(user_rows, dtype=np.int64)
    out = np.full((len(user_rows), k), -1, dtype=np.int64)
    for start in range(0, len(user_rows), batch_size):
        pos = np.arange(start, min(start + batch_size, len(user_rows)))
        rows = user_rows[pos]
        scores = np.asarray(score_fn(rows))
        if scores.shape != (len(rows), exclude.shape[1]):
            raise ConfigError(
                f"scorer returned shape {scores.shape}, expected ({len(rows)}, {exclude.shape[1]})"
            )
        out[pos] = top_k(scores, exclude[rows], k, tie_rank)
        if on_batch is not None:
            on_batch(pos, rows, scores)
    return out
