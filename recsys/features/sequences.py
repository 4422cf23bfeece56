"""Users' ordered histories and what follows what: the sequence side of the item features.

Order within a user is (timestamp, source row): events of the same timestamp keep the order the data
gave them, never an order by product id (on data whose same-day events were sorted by id, an id order
would teach "what follows" models the id order instead of taste).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data import schema as S
from recsys.features.events import positive_mask

__all__ = ["MAX_HISTORY", "PROFILE_DECAY", "TRANSITION_WINDOW", "UserBatch", "first_seen_age",
           "ordered_histories", "transitions", "user_batch"]

#: Weight of the i-th most recent history item in a sequence profile vector: PROFILE_DECAY ** i.
PROFILE_DECAY = 0.8
MAX_HISTORY = 50
TRANSITION_WINDOW = 3


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


def ordered_histories(
    events: pd.DataFrame, item_pos: np.ndarray, users: Sequence[object] | np.ndarray,
) -> list[np.ndarray]:
    """Per user (in `users` order): positive-evidence positions, oldest first (see module docstring)."""
    keep = positive_mask(events, item_pos)
    frame = pd.DataFrame({"u": events[S.USER_ID].to_numpy(dtype=object)[keep], "p": item_pos[keep],
                          "t": events[S.TIMESTAMP].to_numpy()[keep], "o": np.flatnonzero(keep)})
    frame = frame.sort_values(["u", "t", "o"], kind="stable")
    groups = {u: g.to_numpy(np.int64) for u, g in frame.groupby("u", sort=False)["p"]}
    empty = np.zeros(0, np.int64)
    return [groups.get(u, empty) for u in np.asarray(users, dtype=object).tolist()]


def transitions(hists: list[np.ndarray], n: int, window: int = TRANSITION_WINDOW) -> sp.csr_matrix:
    """T[i, j] = Σ 1/d over users whose j comes d ≤ `window` steps after i, divided by (#i + 1).

    The directed counterpart of co-occurrence: on sequence data "what comes next" differs from "what
    goes together", and the order of a user's last few items carries signal.
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
    age = np.full(n, np.nan)
    if not seen.any():
        return age
    ts = events[S.TIMESTAMP].to_numpy()[seen]
    first = pd.Series(ts).groupby(item_pos[seen]).min()
    age[first.index.to_numpy()] = (as_of - pd.to_datetime(first, utc=True)).dt.total_seconds().to_numpy() / 86400.0
    return age


def user_batch(vectors: np.ndarray, hist: list[np.ndarray]) -> UserBatch:
    """Profiles = Σ PROFILE_DECAY^i × vector of the i-th most recent item, normalised (zero if none)."""
    profile = np.zeros((len(hist), vectors.shape[1]), np.float32)
    for b, h in enumerate(hist):
        if len(h):
            tail = h[::-1][:MAX_HISTORY]
            v = (PROFILE_DECAY ** np.arange(len(tail), dtype=np.float32)) @ vectors[tail]
            norm = float(np.linalg.norm(v))
            profile[b] = v / norm if norm > 0 else v
    return UserBatch(hist=[np.asarray(h, np.int64) for h in hist], profile=profile)
