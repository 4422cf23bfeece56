"""Online user profiles: a user's indexed history merged with their stored events, re-profiled with
the same pure `build_profiles` the build uses.

Stored events that are already in the index (same product, type, time and text) are dropped, so an
index rebuilt from the event log does not count them twice. Event ages are measured from the time of the
request (`now`), never from the newest event: with the newest event as the reference, a single event
dated far ahead would make every real event look ancient and decay it to nothing. Measuring from a
later reference only scales every weight of a user by the same factor (the decay is exponential), so
the profile's direction is the one the build computed as of its own cutoff. New review and search texts are encoded
with the index's encoder; texts the build already encoded are looked up by `text_hash`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.artifacts import POSITION, WEIGHT, Artifacts
from recsys.config import BlendConfig
from recsys.data import schema as S
from recsys.encoders import Encoder
from recsys.features.profiles import ProfileParams, build_profiles, event_weights
from recsys.text.builders import text_hash

__all__ = ["UserState", "TextVectors", "merge_history", "online_user"]

_KEY = [S.PRODUCT_ID, S.EVENT_TYPE, S.TIMESTAMP, S.TEXT]


@dataclass(frozen=True)
class UserState:
    """A user's history rows (canonical columns + `position` + `weight`) and profile vector (None: none)."""

    history: pd.DataFrame
    vector: np.ndarray | None
    live_events: int


class TextVectors:
    """Text hash → vector: the index's stored text vectors, then an LRU of texts encoded online."""

    def __init__(self, art: Artifacts, encoder: Encoder, capacity: int = 50_000) -> None:
        tv = art.text_vectors
        self._stored = {} if tv is None else {str(k): i for i, k in enumerate(tv.keys)}
        self._table = None if tv is None else tv.vectors
        self._encoder = encoder
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def get(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self._encoder.dim), np.float32)
        missing: dict[str, list[int]] = {}
        for i, t in enumerate(texts):
            h = text_hash(t)
            row = self._stored.get(h)
            if row is not None and self._table is not None:
                out[i] = self._table[row]
                continue
            with self._lock:
                hit = self._cache.get(h)
            if hit is not None:
                out[i] = hit
            else:
                missing.setdefault(t, []).append(i)
        if missing:
            vecs = self._encoder.encode(list(missing), kind="query")
            with self._lock:
                for (t, rows), v in zip(missing.items(), vecs, strict=True):
                    out[rows] = v
                    self._cache[text_hash(t)] = v
                while len(self._cache) > self._capacity:
                    self._cache.popitem(last=False)
        return out


def merge_history(indexed: pd.DataFrame, stored: pd.DataFrame, art: Artifacts) -> pd.DataFrame:
    """Canonical events of both, stored duplicates of indexed rows dropped, with catalogue `position`."""
    new = stored[list(S.EVENT_COLUMNS)]
    if len(indexed) and len(new):
        seen = pd.MultiIndex.from_frame(indexed[_KEY].astype({S.PRODUCT_ID: object, S.TEXT: object}))
        mine = pd.MultiIndex.from_frame(new[_KEY].astype({S.PRODUCT_ID: object, S.TEXT: object}))
        new = new[~mine.isin(seen)]
    new = new.assign(**{POSITION: art.items.rows(new[S.PRODUCT_ID])})
    cols = [*S.EVENT_COLUMNS, POSITION]
    merged = pd.concat([indexed[cols], new[cols]], ignore_index=True) if len(indexed) else new[cols]
    return merged.reset_index(drop=True)


def online_user(
    user_id: str, art: Artifacts, stored: pd.DataFrame, config: BlendConfig, texts: TextVectors,
    *, now: pd.Timestamp | None = None,
) -> UserState:
    """Re-profile `user_id` from indexed history + `stored` events with the build's code, event ages
    measured from `now` (the request time; None: the current time). Events dated after `now` (within the
    ingest skew) count as brand new, never more."""
    hist = merge_history(art.user_history(user_id), stored, art)
    params = ProfileParams(**config.profile.model_dump())
    as_of = pd.Timestamp.now(tz="UTC") if now is None else now
    clean = hist[S.TEXT].fillna("").astype(str).str.strip()
    has_text = (clean != "").to_numpy()
    text_vecs = np.zeros((len(hist), art.item_vectors.shape[1]), np.float32)
    if has_text.any():
        text_vecs[has_text] = texts.get(clean[has_text].tolist())
    pos = hist[POSITION].to_numpy(np.int64)
    prof = build_profiles(hist, pos, art.item_vectors, text_vecs, has_text, as_of, params)
    vec = prof.vectors[0] if len(prof.user_ids) and prof.has_profile[0] else None
    return UserState(hist.assign(**{WEIGHT: event_weights(hist, as_of, params)}), vec, len(stored))
