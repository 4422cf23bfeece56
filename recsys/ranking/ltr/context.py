"""What the learned ranker knows about items and users, as plain arrays.

`ItemContext` is built by one function from the events of a time slice, so the same code makes the
training context (input part of an earlier slice), the evaluation context (train events) and the
serving context (an index's stored history). `UserBatch` holds each user's positive history in order,
oldest first, and the profile vector the ranker derives from it (recency-weighted mean of item vectors).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data import schema as S
from recsys.features.signals import DEFAULT_EVENT_WEIGHTS, ItemSignals, SignalParams, compute_signals, cooccurrence

__all__ = ["ItemContext", "UserBatch", "item_context", "assemble_context", "first_seen_age", "transitions", "user_batch",
           "ordered_histories", "PROFILE_DECAY", "MAX_HISTORY"]

#: Weight of the i-th most recent history item in the ranker's profile vector: PROFILE_DECAY ** i.
PROFILE_DECAY = 0.8
MAX_HISTORY = 50
TRANSITION_WINDOW = 3


@dataclass(frozen=True)
class ItemContext:
    """Per-item arrays (catalogue order) the candidate sources and features read."""

    vectors: np.ndarray  # n × d, unit length
    sim: sp.csr_matrix  # item–item co-occurrence cosine (top neighbours per row)
    trans: sp.csr_matrix  # directed transitions: how often j follows i within TRANSITION_WINDOW steps
    signals: ItemSignals
    category: np.ndarray  # int codes of the full category path, −1 when empty
    top_category: np.ndarray  # int codes of the first two category levels
    brand: np.ndarray  # int codes, −1 when empty
    log_price: np.ndarray  # log1p(price), NaN when unknown
    age_days: np.ndarray  # days between the item's first event and as_of, NaN when never seen
    popular: np.ndarray  # positions by descending popularity (ties by position)

    @property
    def n_items(self) -> int:
        return len(self.vectors)


@dataclass(frozen=True)
class UserBatch:
    """Histories of a batch of users: `hist[b]` = positive-evidence positions, oldest first."""

    hist: list[np.ndarray]
    profile: np.ndarray  # b × d

    def __len__(self) -> int:
        return len(self.hist)

    def padded(self, last: int = MAX_HISTORY) -> np.ndarray:
        """b × `last` positions, most recent first, −1 padded."""
        out = np.full((len(self.hist), last), -1, np.int64)
        for b, h in enumerate(self.hist):
            tail = h[::-1][:last]
            out[b, : len(tail)] = tail
        return out


def _codes(values: pd.Series) -> np.ndarray:
    clean = values.fillna("").astype(str).str.strip()
    codes = pd.factorize(clean)[0].astype(np.int64)
    return np.where(clean.to_numpy() == "", -1, codes)


def item_context(
    products: pd.DataFrame, events: pd.DataFrame, item_pos: np.ndarray, item_vectors: np.ndarray,
    as_of: pd.Timestamp, signal_params: SignalParams = SignalParams(),
) -> ItemContext:
    """Signals, co-occurrence and item attributes from `events` (rows aligned with `item_pos`).

    Co-occurrence and signals are computed exactly as `recsys.build.pipeline` computes the index's, so a model
    trained on this context is served with the index's stored `cooc` and `signals`.
    """
    n = len(products)
    typed = (item_pos >= 0) & events[S.EVENT_TYPE].map(signal_params.event_weights).fillna(0).gt(0).to_numpy()
    sim = cooccurrence(events[S.USER_ID].to_numpy()[typed], item_pos[typed], n, signal_params.cooc_neighbours)
    sig = compute_signals(events, item_pos, n, as_of, signal_params)
    users = pd.unique(events[S.USER_ID].to_numpy(dtype=object))
    trans = transitions(ordered_histories(events, item_pos, users), n)
    return assemble_context(products, item_vectors, sim, trans, sig, first_seen_age(events, item_pos, n, as_of))


def transitions(hists: list[np.ndarray], n: int, window: int = TRANSITION_WINDOW) -> sp.csr_matrix:
    """T[i, j] = Σ 1/d over users whose j comes d ≤ `window` steps after i, divided by (#i + 1).

    The directed counterpart of co-occurrence: on sequence data "what comes next" differs from "what
    goes together" (NOTES: the order of the last items carries real signal).
    """
    lens = np.array([len(h) for h in hists], np.int64)
    if lens.sum() == 0:
        return sp.csr_matrix((n, n), dtype=np.float32)
    flat = np.concatenate(hists).astype(np.int64)
    owner = np.repeat(np.arange(len(hists)), lens)
    rows, cols, vals = [], [], []
    for d in range(1, window + 1):
        same = owner[:-d] == owner[d:]
        rows.append(flat[:-d][same])
        cols.append(flat[d:][same])
        vals.append(np.full(int(same.sum()), 1.0 / d, np.float32))
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    keep = r != c
    t = sp.csr_matrix((v[keep], (r[keep], c[keep])), shape=(n, n), dtype=np.float32)
    t.sum_duplicates()
    count = np.bincount(flat, minlength=n).astype(np.float32)
    return sp.csr_matrix(sp.diags(1.0 / (count + 1.0)) @ t, dtype=np.float32)


def first_seen_age(events: pd.DataFrame, item_pos: np.ndarray, n: int, as_of: pd.Timestamp) -> np.ndarray:
    """Days from each item's first event to `as_of` (NaN for items without events)."""
    seen = item_pos >= 0
    ts = events[S.TIMESTAMP].to_numpy()[seen]
    first = pd.Series(ts).groupby(item_pos[seen]).min()
    age = np.full(n, np.nan)
    age[first.index.to_numpy()] = (as_of - pd.to_datetime(first, utc=True)).dt.total_seconds().to_numpy() / 86400.0
    return age


def assemble_context(products: pd.DataFrame, item_vectors: np.ndarray, sim: sp.spmatrix, trans: sp.spmatrix,
                     sig: ItemSignals, age_days: np.ndarray) -> ItemContext:
    n = len(products)
    cats = products[S.CATEGORY].fillna("").astype(str)
    top = cats.str.split(" > ").str[:2].str.join(" > ")
    price = products[S.PRICE].to_numpy(dtype=float)
    return ItemContext(
        vectors=np.ascontiguousarray(item_vectors, dtype=np.float32),
        sim=sp.csr_matrix(sim, dtype=np.float32),
        trans=sp.csr_matrix(trans, dtype=np.float32),
        signals=sig,
        category=_codes(cats),
        top_category=_codes(top),
        brand=_codes(products[S.BRAND]) if S.BRAND in products.columns else np.full(n, -1, np.int64),
        log_price=np.log1p(np.where(price >= 0, price, np.nan)),
        age_days=age_days,
        popular=np.lexsort((np.arange(n), -np.asarray(sig.popularity))),
    )


def ordered_histories(
    events: pd.DataFrame, item_pos: np.ndarray, users: Sequence[object] | np.ndarray,
) -> list[np.ndarray]:
    """Per user (in `users` order): positive-evidence positions, oldest first.

    Positive = an event type with weight (not search/impression) and no rating below 3 stars, the same
    rule `positive_history` applies to an index's stored history at serving time.
    """
    typed = events[S.EVENT_TYPE].map(DEFAULT_EVENT_WEIGHTS).fillna(0.0).to_numpy(dtype=float) > 0
    rating = events[S.RATING].to_numpy(dtype=float)
    keep = (item_pos >= 0) & typed & ~(rating < 3)
    frame = pd.DataFrame({"u": events[S.USER_ID].to_numpy(dtype=object)[keep], "p": item_pos[keep],
                          "t": events[S.TIMESTAMP].to_numpy()[keep], "o": np.flatnonzero(keep)})
    frame = frame.sort_values(["u", "t", "o"], kind="stable")
    groups = {u: g.to_numpy(np.int64) for u, g in frame.groupby("u", sort=False)["p"]}
    empty = np.zeros(0, np.int64)
    return [groups.get(u, empty) for u in np.asarray(users, dtype=object).tolist()]


def user_batch(ctx: ItemContext, hist: list[np.ndarray]) -> UserBatch:
    """Profiles = Σ PROFILE_DECAY^i × vector of the i-th most recent item, normalised (zero if none)."""
    profile = np.zeros((len(hist), ctx.vectors.shape[1]), np.float32)
    for b, h in enumerate(hist):
        if len(h):
            tail = h[::-1][:MAX_HISTORY]
            v = (PROFILE_DECAY ** np.arange(len(tail), dtype=np.float32)) @ ctx.vectors[tail]
            norm = float(np.linalg.norm(v))
            profile[b] = v / norm if norm > 0 else v
    return UserBatch(hist=[np.asarray(h, np.int64) for h in hist], profile=profile)
