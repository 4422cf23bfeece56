"""Behavioural signals as of a cutoff time: pure functions from events to per-item features.

Every feature is scaled to [0, 1] so blend weights are comparable:
- popularity: time-decayed count of distinct users (log-smoothed, divided by the maximum);
- trending: short-half-life activity relative to long-run activity, with a prior so a single
  recent event on a cold item does not top the chart;
- rating: Bayesian average rating (shrunk toward the global mean with `rating_prior` pseudo-votes);
- co-occurrence: item–item cosine over users' histories, kept to the top neighbours per item.
Events after `as_of` are ignored, so the same code serves offline replay and live ranking.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys import schema as S

__all__ = ["SignalParams", "ItemSignals", "compute_signals", "cooccurrence", "decay", "DEFAULT_EVENT_WEIGHTS"]

DEFAULT_EVENT_WEIGHTS: Mapping[str, float] = {
    "view": 0.5, "click": 0.75, "cart": 1.5, "purchase": 2.0,
    "review": 1.5, "rating": 1.0, "search": 0.0, "impression": 0.0,
}


@dataclass(frozen=True)
class SignalParams:
    popularity_half_life_days: float = 90.0
    trending_half_life_days: float = 7.0
    rating_prior: float = 5.0
    cooc_neighbours: int = 100
    event_weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))


@dataclass(frozen=True)
class ItemSignals:
    popularity: np.ndarray
    trending: np.ndarray
    rating: np.ndarray
    rating_count: np.ndarray
    interactions: np.ndarray  # raw distinct-user count, for "cold item" logic and display

    def frame(self, product_ids: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(
            {S.PRODUCT_ID: product_ids, "popularity": self.popularity, "trending": self.trending,
             "rating": self.rating, "rating_count": self.rating_count, "interactions": self.interactions}
        )

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> ItemSignals:
        return cls(*(df[c].to_numpy() for c in ("popularity", "trending", "rating", "rating_count", "interactions")))


def decay(ages_days: np.ndarray, half_life_days: float) -> np.ndarray:
    """0.5 ** (age / half-life); ages below zero (future events) count as zero age."""
    return np.power(0.5, np.maximum(ages_days, 0.0) / max(half_life_days, 1e-9))


def _scale(x: np.ndarray) -> np.ndarray:
    top = float(x.max()) if len(x) else 0.0
    return (x / top).astype(np.float32) if top > 0 else np.zeros(len(x), np.float32)


def _per_user_item_max(users: np.ndarray, items: np.ndarray, w: np.ndarray, n_items: int) -> np.ndarray:
    """Sum over users of each user's strongest weight on the item (a distinct-user count)."""
    frame = pd.DataFrame({"u": users, "i": items, "w": w})
    best = frame.groupby(["u", "i"], sort=False)["w"].max()
    return np.bincount(best.index.get_level_values("i"), weights=best.to_numpy(), minlength=n_items)


def compute_signals(
    events: pd.DataFrame, item_pos: np.ndarray, n_items: int, as_of: pd.Timestamp, params: SignalParams
) -> ItemSignals:
    """`item_pos[i]` is the catalogue position of events row i (−1 for product-less events)."""
    ts = events[S.TIMESTAMP]
    keep = (item_pos >= 0) & (ts <= as_of).to_numpy()
    pos = item_pos[keep]
    ev = events.loc[keep]
    age = ((as_of - ev[S.TIMESTAMP]).dt.total_seconds() / 86400.0).to_numpy()
    tw = ev[S.EVENT_TYPE].map(params.event_weights).fillna(0.0).to_numpy()
    users = pd.factorize(ev[S.USER_ID])[0]
    long = _per_user_item_max(users, pos, tw * decay(age, params.popularity_half_life_days), n_items)
    short = _per_user_item_max(users, pos, tw * decay(age, params.trending_half_life_days), n_items)
    distinct = _per_user_item_max(users, pos, (tw > 0).astype(float), n_items)

    # Trending: share of an item's long-run activity that happened recently, shrunk by a prior
    # equal to the median activity of active items so that one fresh event cannot dominate.
    active = long[long > 0]
    prior = float(np.median(active)) if len(active) else 1.0
    trending = _scale(short * np.log1p(short) / (long + prior))

    ratings = ev[S.RATING].to_numpy(dtype=float)
    rated = ~np.isnan(ratings)
    r_sum = np.bincount(pos[rated], weights=ratings[rated], minlength=n_items)
    r_cnt = np.bincount(pos[rated], minlength=n_items).astype(float)
    mean = float(ratings[rated].mean()) if rated.any() else 3.0
    bayes = (params.rating_prior * mean + r_sum) / (params.rating_prior + r_cnt)
    return ItemSignals(
        popularity=_scale(np.log1p(long)),
        trending=trending,
        rating=((bayes - S.RATING_MIN) / (S.RATING_MAX - S.RATING_MIN)).astype(np.float32),
        rating_count=r_cnt.astype(np.int32),
        interactions=distinct.astype(np.int32),
    )


def cooccurrence(users: np.ndarray, items: np.ndarray, n_items: int, neighbours: int = 100) -> sp.csr_matrix:
    """Item–item cosine of binary user histories; diagonal removed; top `neighbours` per row kept."""
    if len(items) == 0:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    u = pd.factorize(users)[0]
    x = sp.csr_matrix((np.ones(len(items), np.float32), (u, items)), shape=(u.max() + 1, n_items))
    x.data[:] = 1.0
    x.sum_duplicates()
    x.data[:] = 1.0
    c = (x.T @ x).tocsr().astype(np.float32)
    c.setdiag(0)
    c.eliminate_zeros()
    norms = np.sqrt(np.asarray(x.sum(axis=0)).ravel()).astype(np.float32)
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    c = sp.diags(inv) @ c @ sp.diags(inv)
    return _top_per_row(c.tocsr(), neighbours)


def _top_per_row(m: sp.csr_matrix, n: int) -> sp.csr_matrix:
    rows, cols, vals = [], [], []
    for r in range(m.shape[0]):
        s, e = m.indptr[r], m.indptr[r + 1]
        if e - s == 0:
            continue
        d, ix = m.data[s:e], m.indices[s:e]
        if e - s > n:
            top = np.argpartition(-d, n - 1)[:n]
            d, ix = d[top], ix[top]
        rows.append(np.full(len(d), r))
        cols.append(ix)
        vals.append(d)
    if not rows:
        return sp.csr_matrix(m.shape, dtype=np.float32)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=m.shape, dtype=np.float32
    )
