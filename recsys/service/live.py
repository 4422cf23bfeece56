"""Live popularity and trending: a write side (events → per-item counters) and a pure read side
(base signals + counters → effective signals), in the metarank style.

The index stores popularity as log1p(L) / log1p(L_max) of a decayed distinct-user weight L. We invert
it with L_max estimated as the largest distinct-user count (`interactions`), add the live weight of
events ingested since the build (fresh events are undecayed), and rescale by the new maximum (the
whole array is rescaled only when the maximum grows; otherwise only the touched items change). Trending takes the larger of the built value and live / (live + prior): a burst of
fresh activity lifts an item, one event on a cold item does not top the chart.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import numpy as np
import pandas as pd

from recsys.data import schema as S
from recsys.artifacts import Artifacts
from recsys.config import BlendConfig
from recsys.ranking.blend_ranker import BlendRanker, Ranked
from recsys.features.signals import DEFAULT_EVENT_WEIGHTS, ItemSignals

__all__ = ["LiveSignals", "LiveRanker", "built_weights", "effective_popularity", "effective_trending"]

POPULAR_POOL = 1000


def effective_popularity(built: np.ndarray, live: np.ndarray, top: float) -> np.ndarray:
    """log1p(built + live) / log1p(top), where `built` is the inverted built weight L and `top` the
    largest built + live weight over the catalogue."""
    return (np.log1p(built + live) / np.log1p(max(top, 1e-9))).astype(np.float32)


def built_weights(popularity: np.ndarray, ref: float) -> np.ndarray:
    """Invert the built scaling log1p(L) / log1p(ref) back to L."""
    return np.expm1(popularity.astype(np.float64) * np.log1p(max(ref, 1.0)))


def effective_trending(base: np.ndarray, live: np.ndarray, prior: float) -> np.ndarray:
    return np.maximum(base, (live / (live + prior)).astype(np.float32))


class LiveSignals:
    """Owns the signal arrays of one loaded `Artifacts` and updates them in place as events arrive.

    Readers may see an item's old or new value during an update, never a torn array shape.
    """

    def __init__(self, art: Artifacts, event_weights: Mapping[str, float] = DEFAULT_EVENT_WEIGHTS) -> None:
        self.signals: ItemSignals = art.signals
        self._art = art
        self._weights = dict(event_weights)
        n = len(art.signals.popularity)
        ref = float(art.signals.interactions.max()) if n else 1.0
        self._built = built_weights(art.signals.popularity, ref)
        self._top = max(ref, 1.0)
        self._base_trend = art.signals.trending.copy()
        self.live = np.zeros(n, np.float64)
        self._prior = max(float(np.median(art.signals.interactions[art.signals.interactions > 0]))
                          if (art.signals.interactions > 0).any() else 1.0, 1.0)
        self._best: dict[tuple[str, int], float] = {}  # (user, position) → strongest weight counted
        self._lock = threading.Lock()
        self.events_applied = 0
        self.popular_order = self._order(np.arange(n))

    def _order(self, positions: np.ndarray) -> np.ndarray:
        pop = self.signals.popularity[positions]
        return positions[np.lexsort((positions, -pop))][:POPULAR_POOL]

    def apply(self, events: pd.DataFrame) -> int:
        """Count canonical events (distinct user × item, strongest type weight); return items touched."""
        pos = events[S.PRODUCT_ID].map(self._art.product_position).astype("float64").fillna(-1).to_numpy(np.int64)
        w = events[S.EVENT_TYPE].map(self._weights).fillna(0.0).to_numpy(float)
        touched: set[int] = set()
        with self._lock:
            for user, p, weight in zip(events[S.USER_ID].tolist(), pos.tolist(), w.tolist(), strict=True):
                if p < 0 or weight <= 0:
                    continue
                prev = self._best.get((user, p), 0.0)
                if weight > prev:
                    self._best[(user, p)] = weight
                    self.live[p] += weight - prev
                    touched.add(p)
            self.events_applied += len(events)
            if touched:
                idx = np.fromiter(touched, np.int64, len(touched))
                raw = self._built[idx] + self.live[idx]
                if raw.max() > self._top:  # a new maximum rescales every item
                    self._top = float(raw.max())
                    self.signals.popularity[:] = effective_popularity(self._built, self.live, self._top)
                else:
                    self.signals.popularity[idx] = effective_popularity(self._built[idx], self.live[idx], self._top)
                self.signals.trending[idx] = effective_trending(self._base_trend[idx], self.live[idx], self._prior)
                self.popular_order = self._order(np.union1d(self.popular_order, idx))
        return len(touched)


class LiveRanker(BlendRanker):
    """The blended ranker, with popular candidates taken from the live popularity order."""

    def __init__(self, art: Artifacts, config: BlendConfig, live: LiveSignals) -> None:
        super().__init__(art, config)
        self._live = live

    def rank(self, query: np.ndarray | None, **kwargs) -> Ranked:  # type: ignore[override]
        self._popular = self._live.popular_order
        return super().rank(query, **kwargs)
