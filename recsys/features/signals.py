"""Behavioural signals as of a cutoff time: pure functions from events to per-item features.

Every feature but sentiment is scaled to [0, 1] so blend weights are comparable:
- popularity: time-decayed count of distinct users (log-smoothed, divided by the maximum);
- trending: short-half-life activity relative to long-run activity, with a prior so a single
  recent event on a cold item does not top the chart;
- rating: Bayesian average rating (shrunk toward the global mean with `rating_prior` pseudo-votes);
- co-occurrence: item–item cosine over users' histories, kept to the top neighbours per item;
- sentiment: the mean review sentiment of the item (see `recsys.text.sentiment`: from the rating when
  present, else from the text), shrunk toward the catalogue mean with `sentiment_prior` pseudo-reviews,
  minus that mean and halved, so it lies in [-1, 1]: 0 for items without reviews or with typical
  reviews, negative for items reviewed worse than usual. It is the one signed feature besides cosine.
Events after `as_of` are ignored, so the same code serves offline replay and live ranking.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data import schema as S
from recsys.features.events import EVENT_WEIGHTS
from recsys.text.sentiment import score_events

__all__ = [
    "SignalParams", "ItemSignals", "compute_signals", "item_sentiment", "cooccurrence", "decay",
]


@dataclass(frozen=True)
class SignalParams:
    popularity_half_life_days: float = 90.0
    trending_half_life_days: float = 7.0
    rating_prior: float = 5.0
    sentiment_prior: float = 5.0
    cooc_neighbours: int = 100
    event_weights: Mapping[str, float] = field(default_factory=lambda: dict(EVENT_WEIGHTS))


@dataclass(frozen=True)
class ItemSignals:
    popularity: np.ndarray
    trending: np.ndarray
    rating: np.ndarray
    rating_count: np.ndarray
    interactions: np.ndarray  # raw distinct-user count, for "cold item" logic and display
    #: Relative review sentiment in [-1, 1] and the number of reviews behind it.
    sentiment: np.ndarray
    sentiment_count: np.ndarray

    def frame(self, product_ids: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({S.PRODUCT_ID: product_ids, **{f.name: getattr(self, f.name) for f in fields(self)}})

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> ItemSignals:
        """Columns by name (a stored signals file holds every field)."""
        return cls(**{f.name: df[f.name].to_numpy() for f in fields(cls)})

    def copy(self) -> ItemSignals:
        """The same signals in fresh writable arrays."""
        return ItemSignals(**{f.name: np.array(getattr(self, f.name), copy=True) for f in fields(self)})


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


def item_sentiment(pos: np.ndarray, sentiment: np.ndarray, n_items: int, prior: float) -> tuple[np.ndarray, np.ndarray]:
    """(relative sentiment in [-1, 1], review count) per item from per-row sentiment (NaN = none)."""
    has = ~np.isnan(sentiment)
    s_sum = np.bincount(pos[has], weights=sentiment[has], minlength=n_items)
    s_cnt = np.bincount(pos[has], minlength=n_items).astype(float)
    mean = float(sentiment[has].mean()) if has.any() else 0.0
    denom = prior + s_cnt
    shrunk = np.where(denom > 0, (prior * mean + s_sum) / np.maximum(denom, 1e-12), mean)
    return ((shrunk - mean) / 2.0).astype(np.float32), s_cnt.astype(np.int32)


def compute_signals(
    events: pd.DataFrame, item_pos: np.ndarray, n_items: int, as_of: pd.Timestamp, params: SignalParams,
    *, sentiment: np.ndarray | None = None,
) -> ItemSignals:
    """`item_pos[i]` is the catalogue position of events row i (−1 for product-less events).

    `sentiment[i]` is the review sentiment of row i (NaN when none); when not given it is computed with
    `recsys.text.sentiment.score_events` (ratings, else VADER/SnowNLP on the text).
    """
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
    row_sent = (score_events(ev)["sentiment"].to_numpy(float) if sentiment is None
                else np.asarray(sentiment, dtype=float)[keep])
    sent, sent_cnt = item_sentiment(pos, row_sent, n_items, params.sentiment_prior)
    return ItemSignals(
        popularity=_scale(np.log1p(long)),
        trending=trending,
        rating=((bayes - S.RATING_MIN) / (S.RATING_MAX - S.RATING_MIN)).astype(np.float32),
        rating_count=r_cnt.astype(np.int32),
        interactions=distinct.astype(np.int32),
        sentiment=sent,
        sentiment_count=sent_cnt,
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
