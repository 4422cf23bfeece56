"""Pure ranking decisions: the blend's feature values and weighted sum, filters, top-k with a tie-break
order, and MMR diversity. Arrays in, arrays out; the blend formula exists only here, for serving (one
user, its candidates) and for evaluation (a batch of users, the whole catalogue) alike."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.config import FEATURES, BlendWeights
from recsys.features.items import ItemFeatures
from recsys.ranking.base import Filters

__all__ = ["blend_features", "blend_scores", "filter_mask", "history_weights", "mmr_select", "select",
           "top_k_order"]


def history_weights(history_pos: np.ndarray, history_w: np.ndarray, n_items: int) -> sp.csr_matrix:
    """1 × n: the positive event weights of a history summed per item (what co-occurrence starts from)."""
    keep = (history_pos >= 0) & (history_w > 0)
    return sp.csr_matrix((history_w[keep], (np.zeros(int(keep.sum()), np.int64), history_pos[keep])),
                         shape=(1, n_items), dtype=np.float32)


def blend_features(items: ItemFeatures, queries: np.ndarray | None, history: sp.csr_matrix,
                   cand: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """b × C feature values of the blend for b users (`queries` b × d or None, `history` b × n positive
    weights) over candidates `cand` (None: the whole catalogue). Every value but cosine and sentiment
    lies in [0, 1] (EASE can be negative); co-occurrence and EASE are divided by each user's largest score."""
    b = history.shape[0]
    cols = np.arange(items.n_items) if cand is None else np.asarray(cand, np.int64)
    sig = items.signals

    def static(v: np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.asarray(v, np.float32)[cols], (b, len(cols)))

    binary = history.copy()
    binary.data[:] = 1.0
    cooc = _scaled(history, items.cooc, cols)
    ease = _scaled(binary, items.ease, cols)
    cosine = (np.asarray(queries, np.float32) @ items.vectors[cols].T if queries is not None
              else np.zeros((b, len(cols)), np.float32))
    return {
        "cosine": cosine,
        "popularity": static(sig.popularity),
        "trending": static(sig.trending),
        "rating": static(np.where(sig.rating_count > 0, sig.rating, 0.0)),
        "cooc": cooc,
        "sentiment": static(sig.sentiment),
        "ease": ease,
    }


def _scaled(history: sp.csr_matrix, weights: sp.csr_matrix, cols: np.ndarray) -> np.ndarray:
    """b × C of `history @ weights` at `cols`, each row divided by its largest value over all items."""
    b = history.shape[0]
    if not history.nnz or not weights.nnz:
        return np.zeros((b, len(cols)), np.float32)
    scores = (history @ weights).tocsr()
    if not scores.nnz:
        return np.zeros((b, len(cols)), np.float32)
    dense = np.asarray(scores[:, cols].todense(), np.float32)
    top = np.asarray(scores.max(axis=1).todense(), np.float32).reshape(b, 1)
    return np.divide(dense, top, out=np.zeros_like(dense), where=top > 0)


def blend_scores(features: dict[str, np.ndarray], weights: BlendWeights) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """score = Σ weight_f × feature_f; returns the total and each weighted part (any array shape)."""
    shape = np.shape(next(iter(features.values()))) if features else (0,)
    parts = {f: (getattr(weights, f) * features[f]).astype(np.float32) for f in FEATURES if f in features}
    total = np.zeros(shape, np.float32)
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


def top_k_order(scores: np.ndarray, k: int, tiebreak: np.ndarray) -> np.ndarray:
    """Indices of the k best scores, best first; equal scores in `tiebreak` order (ascending)."""
    if len(scores) == 0:
        return np.zeros(0, np.int64)
    order = np.lexsort((tiebreak, -scores))
    return order[:k]


def select(scores: np.ndarray, k: int, tiebreak: np.ndarray, vectors: np.ndarray,
           mmr_lambda: float | None) -> np.ndarray:
    """The shown order: the top k, or with MMR (λ < 1) a diverse k out of the best max(5k, 50)."""
    if mmr_lambda is None or mmr_lambda >= 1.0:
        return top_k_order(scores, k, tiebreak)
    pool = top_k_order(scores, max(k * 5, 50), tiebreak)
    return pool[mmr_select(scores[pool], vectors[pool], k, mmr_lambda)]


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
