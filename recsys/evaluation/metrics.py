"""Ranking metrics as pure functions of arrays.

Conventions: ``ranked`` is ``(n_users, K)`` item indices, best first, ``-1`` for padding; ``targets[u]``
holds user u's distinct relevant item indices; ``hits = hit_matrix(ranked, targets)`` is boolean
``(n_users, K)``. Per-user functions return float64 arrays (NaN where a user has no targets) so that
callers can average, bootstrap or slice them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from recsys.errors import ConfigError

__all__ = [
    "hit_matrix",
    "target_counts",
    "recall_at_k",
    "ndcg_at_k",
    "reciprocal_rank",
    "hit_rate_at_k",
    "catalogue_coverage",
    "bootstrap_ci",
    "cold_item_mask",
    "restrict_targets",
    "HISTORY_BUCKETS",
    "history_buckets",
    "mean_by_label",
]

HISTORY_BUCKETS: tuple[tuple[int, int | None], ...] = ((1, 2), (3, 5), (6, 10), (11, None))


def target_counts(targets: Sequence[np.ndarray]) -> np.ndarray:
    return np.fromiter((len(t) for t in targets), dtype=np.int64, count=len(targets))


def hit_matrix(ranked: np.ndarray, targets: Sequence[np.ndarray]) -> np.ndarray:
    """``hits[u, r]``: whether the item at rank r of user u is one of u's targets."""
    ranked = np.asarray(ranked, dtype=np.int64)
    if ranked.ndim != 2 or len(ranked) != len(targets):
        raise ConfigError(f"ranked has shape {ranked.shape} but there are {len(targets)} target lists")
    counts = target_counts(targets)
    width = int(max(ranked.max(initial=-1), max((int(t.max()) for t in targets if len(t)), default=-1))) + 2
    owner = np.repeat(np.arange(len(targets), dtype=np.int64), counts)
    flat = np.concatenate([np.asarray(t, dtype=np.int64) for t in targets]) if counts.sum() else np.zeros(0, np.int64)
    target_codes = owner * width + flat
    codes = np.arange(len(ranked), dtype=np.int64)[:, None] * width + ranked
    return np.isin(codes, target_codes) & (ranked >= 0)


def _check_k(hits: np.ndarray, k: int) -> None:
    if not 1 <= k <= hits.shape[1]:
        raise ConfigError(f"k={k} is outside 1..{hits.shape[1]} (the length of the ranked lists)")


def recall_at_k(hits: np.ndarray, n_targets: np.ndarray, k: int) -> np.ndarray:
    """Hits in the top k divided by the number of targets."""
    _check_k(hits, k)
    found = hits[:, :k].sum(axis=1).astype(np.float64)
    return np.divide(found, n_targets, out=np.full(len(found), np.nan), where=n_targets > 0)


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def ndcg_at_k(hits: np.ndarray, n_targets: np.ndarray, k: int) -> np.ndarray:
    """Binary-relevance NDCG@k; the ideal DCG places min(k, |targets|) hits at the top."""
    _check_k(hits, k)
    disc = _discounts(k)
    dcg = hits[:, :k].astype(np.float64) @ disc
    ideal_cum = np.concatenate([[0.0], np.cumsum(disc)])
    idcg = ideal_cum[np.minimum(n_targets, k)]
    return np.divide(dcg, idcg, out=np.full(len(dcg), np.nan), where=n_targets > 0)


def reciprocal_rank(hits: np.ndarray, n_targets: np.ndarray | None = None) -> np.ndarray:
    """1 / (rank of the first hit) within the whole ranked list, 0 when nothing is hit (MRR per user)."""
    any_hit = hits.any(axis=1)
    first = np.argmax(hits, axis=1)
    rr = np.where(any_hit, 1.0 / (first + 1.0), 0.0)
    if n_targets is not None:
        rr = np.where(n_targets > 0, rr, np.nan)
    return rr


def hit_rate_at_k(hits: np.ndarray, k: int) -> np.ndarray:
    """1.0 when at least one target is in the top k, else 0.0."""
    _check_k(hits, k)
    return np.asarray(hits[:, :k].any(axis=1), dtype=np.float64)


def catalogue_coverage(ranked: np.ndarray, k: int, n_items: int) -> float:
    """Distinct items recommended in anyone's top k, divided by the catalogue size."""
    if n_items <= 0:
        raise ConfigError(f"n_items must be positive, got {n_items}")
    top = np.asarray(ranked)[:, :k]
    return float(len(np.unique(top[top >= 0])) / n_items)


def bootstrap_ci(
    per_user_values: np.ndarray, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean over users (NaNs dropped); users are resampled with replacement."""
    v = np.asarray(per_user_values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}")
    if len(v) == 0 or n_boot < 1:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    chunk = max(1, 2_000_000 // len(v))  # bound the index matrix to ~16 MB
    for start in range(0, n_boot, chunk):
        stop = min(start + chunk, n_boot)
        idx = rng.integers(0, len(v), size=(stop - start, len(v)))
        means[start:stop] = v[idx].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def cold_item_mask(matrix: sp.spmatrix, max_interactions: int = 1) -> np.ndarray:
    """Items with at most ``max_interactions`` distinct train users (never-seen items included)."""
    counts = np.asarray((sp.csc_matrix(matrix) != 0).sum(axis=0)).ravel()
    return counts <= max_interactions


def restrict_targets(targets: Sequence[np.ndarray], keep: np.ndarray) -> list[np.ndarray]:
    """Each user's targets filtered by a boolean item mask (e.g. ``cold_item_mask``)."""
    return [np.asarray(t, dtype=np.int64)[keep[np.asarray(t, dtype=np.int64)]] for t in targets]


def history_buckets(
    history_len: np.ndarray, buckets: Sequence[tuple[int, int | None]] = HISTORY_BUCKETS
) -> np.ndarray:
    """Label each user with the bucket ("1-2", "3-5", "11+", …) their history length falls in ("" if none)."""
    h = np.asarray(history_len)
    labels = np.full(len(h), "", dtype=object)
    for lo, hi in buckets:
        name = f"{lo}+" if hi is None else f"{lo}-{hi}"
        inside = (h >= lo) & (True if hi is None else h <= hi)
        labels[inside & (labels == "")] = name
    return labels


def mean_by_label(values: np.ndarray, labels: np.ndarray) -> dict[str, dict[str, float]]:
    """``{label: {"users": n, "mean": m}}`` over non-NaN values, labels in first-seen order of ``labels``."""
    out: dict[str, dict[str, float]] = {}
    v = np.asarray(values, dtype=np.float64)
    for label in dict.fromkeys(labels.tolist()):
        sel = (labels == label) & ~np.isnan(v)
        out[str(label)] = {"users": int(sel.sum()), "mean": float(v[sel].mean()) if sel.any() else float("nan")}
    return out
