"""Sampled-negatives evaluation: each test target ranked among N random items the user never touched.

Reported beside full ranking only for comparison with papers that use it; it overstates quality and
is not a substitute for full ranking. Negatives depend only on the seed, the users and the batch
layout, never on scores, so every method sees the same negatives.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from recsys.errors import ConfigError
from recsys.evaluation.ranking import sortable_keys

__all__ = ["sampled_target_ranks", "sampled_metrics"]


def sampled_target_ranks(
    scores: np.ndarray,
    history: sp.csr_matrix,
    targets: Sequence[np.ndarray],
    n_negatives: int,
    tie_rank: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """``(owner, rank)`` per target: ``rank`` = how many of the user's sampled negatives beat it (0 = first).

    Negatives are drawn per user without replacement from items outside the history and the targets.
    History items score ``-inf`` (as in full ranking), so a target the user already had is never a hit.
    """
    if n_negatives < 1:
        raise ConfigError(f"n_negatives must be >= 1, got {n_negatives}")
    b, n_items = scores.shape
    counts = np.fromiter((len(t) for t in targets), dtype=np.int64, count=len(targets))
    owner = np.repeat(np.arange(b), counts)
    flat = np.concatenate([np.asarray(t, np.int64) for t in targets]) if counts.sum() else np.zeros(0, np.int64)

    banned = np.asarray(history.astype(bool).toarray())
    s = np.where(banned, np.float32(-np.inf), scores.astype(np.float32))
    banned[owner, flat] = True
    draw = rng.random((b, n_items))
    draw[banned] = np.inf
    n_neg = min(n_negatives, n_items)
    neg = np.argpartition(draw, n_neg - 1, axis=1)[:, :n_neg]
    neg_valid = np.isfinite(np.take_along_axis(draw, neg, axis=1))

    keys = sortable_keys(s, tie_rank)
    neg_keys = np.take_along_axis(keys, neg, axis=1)  # (b, n_neg)
    target_keys = keys[owner, flat]
    beats = (neg_keys[owner] > target_keys[:, None]) & neg_valid[owner]
    return owner, beats.sum(axis=1)


def sampled_metrics(owner: np.ndarray, rank: np.ndarray, n_users: int, ks: Sequence[int]) -> dict[str, np.ndarray]:
    """Per-user means over targets: ``recall@k`` (rank < k) and ``ndcg@k`` (1/log2(rank+2) if rank < k)."""
    counts = np.bincount(owner, minlength=n_users).astype(np.float64)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        hit = (rank < k).astype(np.float64)
        gain = np.where(rank < k, 1.0 / np.log2(rank + 2.0), 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"recall@{k}"] = np.bincount(owner, weights=hit, minlength=n_users) / counts
            out[f"ndcg@{k}"] = np.bincount(owner, weights=gain, minlength=n_users) / counts
    return out
