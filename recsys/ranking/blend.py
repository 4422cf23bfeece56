"""Pure ranking decisions: blending features with declared weights, filters, and MMR diversity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.config import FEATURES, BlendWeights

__all__ = ["Filters", "blend_scores", "filter_mask", "mmr_select", "top_k_order"]


@dataclass(frozen=True)
class Filters:
    """Which candidates may be shown. Positions are catalogue row numbers."""

    exclude: frozenset[int] = frozenset()
    category: str | None = None
    min_price: float | None = None
    max_price: float | None = None


def blend_scores(features: dict[str, np.ndarray], weights: BlendWeights) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """score = Σ weight_f × feature_f; returns the total and each weighted part."""
    n = len(next(iter(features.values()))) if features else 0
    parts = {f: (getattr(weights, f) * features[f]).astype(np.float32) for f in FEATURES if f in features}
    total = np.zeros(n, np.float32)
    for p in parts.values():
        total += p
    return total, parts


def filter_mask(
    positions: np.ndarray, categories: np.ndarray, prices: np.ndarray, filters: Filters
) -> np.ndarray:
    """True where the candidate passes: not excluded, category contains the filter (case-insensitive,
    any level of the path), price within range (products without a price fail a price filter)."""
    keep = np.ones(len(positions), bool)
    if filters.exclude:
        keep &= ~np.isin(positions, np.fromiter(filters.exclude, np.int64, len(filters.exclude)))
    if filters.category:
        needle = filters.category.casefold()
        keep &= np.array([needle in str(c).casefold() for c in categories[positions]], bool)
    if filters.min_price is not None or filters.max_price is not None:
        p = prices[positions]
        ok = ~np.isnan(p)
        if filters.min_price is not None:
            ok &= p >= filters.min_price
        if filters.max_price is not None:
            ok &= p <= filters.max_price
        keep &= ok
    return keep


def top_k_order(scores: np.ndarray, k: int, tiebreak: np.ndarray | None = None) -> np.ndarray:
    """Indices of the k best scores, best first; ties by `tiebreak` (ascending) then index."""
    if len(scores) == 0:
        return np.zeros(0, np.int64)
    tb = np.arange(len(scores)) if tiebreak is None else tiebreak
    order = np.lexsort((np.arange(len(scores)), tb, -scores))
    return order[:k]


def mmr_select(scores: np.ndarray, vectors: np.ndarray, k: int, lam: float) -> np.ndarray:
    """Maximal marginal relevance: greedily pick argmax λ·score − (1−λ)·max cosine to the picked set.

    Scores are min-max scaled first so λ trades comparable quantities. Returns indices, best first.
    """
    n = len(scores)
    if n == 0 or k <= 0:
        return np.zeros(0, np.int64)
    span = float(scores.max() - scores.min())
    rel = (scores - scores.min()) / span if span > 0 else np.ones(n, np.float32)
    picked: list[int] = []
    max_sim = np.full(n, -np.inf, np.float32)
    available = np.ones(n, bool)
    for _ in range(min(k, n)):
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        value = np.where(available, lam * rel - (1 - lam) * penalty, -np.inf)
        best = int(np.argmax(value))
        picked.append(best)
        available[best] = False
        max_sim = np.maximum(max_sim, vectors @ vectors[best])
    return np.asarray(picked, np.int64)
