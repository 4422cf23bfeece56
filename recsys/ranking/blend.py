"""Pure ranking decisions: the blend's feature values and weighted sum, filters, top-k with a tie-break
order, and MMR diversity. Arrays in, arrays out; the blend formula exists only here, for serving (one
user, its candidates) and for evaluation (a batch of users, the whole catalogue) alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias, cast

import numpy as np
import scipy.sparse as sp

from recsys.config import FEATURES, BlendWeights
from recsys.errors import RecsysError
from recsys.features.items import ItemFeatures
from recsys.ranking.base import Filters

__all__ = ["HistoryScores", "OneRow", "blend_features", "blend_scores", "filter_mask", "history_weights",
           "summed_history",
           "mmr_select", "select", "top_k_order"]


def history_weights(history_pos: np.ndarray, history_w: np.ndarray, n_items: int) -> sp.csr_matrix:
    """1 × n: the positive event weights of a history summed per item (what co-occurrence starts from)."""
    ids, w = summed_history(history_pos, history_w)
    return sp.csr_matrix((w, ids, np.array([0, len(ids)])), shape=(1, n_items), dtype=np.float32)


def summed_history(history_pos: np.ndarray, history_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(items ascending, float32 weight sums) of a history's positive events."""
    pos, w = np.asarray(history_pos, np.int64), np.asarray(history_w, np.float64)
    keep = (pos >= 0) & (w > 0)
    ids, inv = np.unique(pos[keep], return_inverse=True)
    return ids, np.bincount(inv, w[keep], minlength=len(ids)).astype(np.float32)


@dataclass(frozen=True)
class OneRow:
    """A 1 × n sparse row as sorted column ids and values: the attributes of a one-row CSR matrix that
    the blend reads, without scipy's per-object checks (a request builds several)."""

    indices: np.ndarray
    data: np.ndarray
    n: int

    @property
    def shape(self) -> tuple[int, int]:
        return (1, self.n)

    @property
    def nnz(self) -> int:
        return len(self.data)


Rows: TypeAlias = sp.csr_matrix | OneRow


@dataclass(frozen=True)
class HistoryScores:
    """Per user, `history @ cooc` (event weights) and `binary(history) @ ease`: b × n CSR rows with
    sorted indices. Candidate generation and the blend features read the same products."""

    cooc: Rows
    ease: Rows

    @classmethod
    def of(cls, items: ItemFeatures, history: sp.csr_matrix) -> HistoryScores:
        if history.shape[0] == 1:
            row = history.tocsr()
            return cls.of_one(items, row.indices.astype(np.int64), row.data.astype(np.float32))
        binary = history.copy()
        binary.data[:] = 1.0
        return cls(_product(history, items.cooc), _product(binary, items.ease))

    @classmethod
    def of_one(cls, items: ItemFeatures, ids: np.ndarray, w: np.ndarray) -> HistoryScores:
        """One user from (item positions, weights): the rows of `cooc`/`ease` gathered and summed (the
        same products as a sparse matrix multiply, without its per-call overhead on a single row)."""
        n = items.n_items
        return cls(_gathered(ids, w, items.cooc, n), _gathered(ids, np.ones(len(ids), np.float32), items.ease, n))


def _product(history: sp.csr_matrix, weights: sp.csr_matrix) -> sp.csr_matrix:
    out = (history @ weights).tocsr()
    out.sort_indices()
    return out


def _gathered(ids: np.ndarray, w: np.ndarray, weights: sp.csr_matrix, n: int) -> OneRow:
    starts = weights.indptr[ids].astype(np.int64)
    lens = weights.indptr[ids + 1].astype(np.int64) - starts
    total = int(lens.sum())
    if total == 0:
        return OneRow(np.zeros(0, np.int64), np.zeros(0, np.float32), n)
    take = np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(total)
    cols, inv = np.unique(weights.indices[take], return_inverse=True)
    vals = np.bincount(inv, weights.data[take] * np.repeat(w, lens), minlength=len(cols)).astype(np.float32)
    keep = vals != 0
    return OneRow(cols[keep].astype(np.int64), vals[keep], n)


def blend_features(items: ItemFeatures, queries: np.ndarray | None, history: sp.csr_matrix | None,
                   cand: np.ndarray | None = None, scores: HistoryScores | None = None) -> dict[str, np.ndarray]:
    """b × C feature values of the blend for b users (`queries` b × d or None, `history` b × n positive
    weights) over candidates `cand` (None: the whole catalogue). Every value but cosine and sentiment
    lies in [0, 1] (EASE can be negative); co-occurrence and EASE are divided by each user's largest score.
    `scores` are `HistoryScores.of(items, history)` when the caller already has them (then `history`
    may be None)."""
    if scores is None:
        if history is None:
            raise RecsysError("blend_features needs the users' history or its HistoryScores")
        scores = HistoryScores.of(items, history)
    b = scores.cooc.shape[0]
    cols = np.arange(items.n_items) if cand is None else np.asarray(cand, np.int64)
    sig = items.signals

    def static(v: np.ndarray) -> np.ndarray:  # gathered before the cast: a request never copies the catalogue
        return np.broadcast_to(np.asarray(v[cols], np.float32), (b, len(cols)))

    cooc = _scaled(scores.cooc, cols)
    ease = _scaled(scores.ease, cols)
    cosine = (np.asarray(queries, np.float32) @ items.vectors[cols].T if queries is not None
              else np.zeros((b, len(cols)), np.float32))
    return {
        "cosine": cosine,
        "popularity": static(sig.popularity),
        "trending": static(sig.trending),
        "rating": np.broadcast_to(np.where(sig.rating_count[cols] > 0, sig.rating[cols], 0.0).astype(np.float32),
                                  (b, len(cols))),
        "cooc": cooc,
        "sentiment": static(sig.sentiment),
        "ease": ease,
    }


def _scaled(scores: Rows, cols: np.ndarray) -> np.ndarray:
    """b × C of the product rows `scores` at `cols`, each row divided by its largest value over all items."""
    b = scores.shape[0]
    if not scores.nnz:
        return np.zeros((b, len(cols)), np.float32)
    if b == 1:  # sorted indices: a binary search per column instead of scipy's fancy indexing
        idx, data = scores.indices, scores.data
        at = np.minimum(np.searchsorted(idx, cols), len(idx) - 1)
        dense = np.where(idx[at] == cols, data[at], np.float32(0)).astype(np.float32)[None, :]
        top = np.full((1, 1), data.max(), np.float32)
    else:
        rows = cast(sp.csr_matrix, scores)  # several users: always a CSR matrix (OneRow holds one user)
        dense = np.asarray(rows[:, cols].todense(), np.float32)
        top = np.asarray(rows.max(axis=1).todense(), np.float32).reshape(b, 1)
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
    """Indices of the k best scores, best first; equal scores in `tiebreak` order (ascending).

    Only the scores at least as good as the k-th best (ties included) are sorted: the same k as sorting all
    of them, found in linear time (a user's co-occurrence row can hold tens of thousands of items)."""
    if len(scores) == 0:
        return np.zeros(0, np.int64)
    neg = -np.asarray(scores)
    if 0 < k < len(neg):
        kth = np.partition(neg, k - 1)[k - 1]
        if not np.isnan(kth):  # NaN sorts last: with fewer than k numbers, sort them all
            keep = np.flatnonzero(neg <= kth)
            return keep[np.lexsort((tiebreak[keep], neg[keep]))][:k]
    return np.lexsort((tiebreak, neg))[:k]


def select(scores: np.ndarray, k: int, tiebreak: np.ndarray, vectors: Callable[[np.ndarray], np.ndarray],
           mmr_lambda: float | None) -> np.ndarray:
    """The shown order: the top k, or with MMR (λ < 1) a diverse k out of the best max(5k, 50).
    `vectors(rows)` gives the vectors of those rows of `scores`, read only when MMR needs them."""
    if mmr_lambda is None or mmr_lambda >= 1.0:
        return top_k_order(scores, k, tiebreak)
    pool = top_k_order(scores, max(k * 5, 50), tiebreak)
    return pool[mmr_select(scores[pool], vectors(pool), k, mmr_lambda)]


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
