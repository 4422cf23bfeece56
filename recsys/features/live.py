"""Live popularity and trending: a write side (events → per-item counters) and a pure read side
(base signals + counters → effective signals), in the metarank style.

The index stores popularity as log1p(L) / log1p(L_max) of a decayed distinct-user weight L. We invert
it with L_max estimated as the largest distinct-user count (`interactions`), add the live weight of
events ingested since the build (fresh events are undecayed), and rescale by the new maximum (the
whole array is rescaled only when the maximum grows; otherwise only the touched items change).
Trending takes the larger of the built value and live / (live + prior): a burst of fresh activity lifts
an item, one event on a cold item does not top the chart.

`LiveSignals` owns copies of the stored arrays it moves; the ranking pipeline reads them through `snapshot`, so
the learned ranker and the blend both rank with live popularity, and the loaded version stays unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import pandas as pd

from recsys.data import schema as S
from recsys.features.events import EVENT_WEIGHTS
from recsys.features.ids import IdMap
from recsys.features.items import popular_order
from recsys.features.signals import ItemSignals

__all__ = ["LiveSignals", "built_weights", "effective_popularity", "effective_trending"]

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
    """Live copies of a version's signal arrays, updated in place as events arrive.

    Readers may see an item's old or new value during an update, never a torn array shape.
    """

    def __init__(self, signals: ItemSignals, items: IdMap, tiebreak: np.ndarray,
                 event_weights: Mapping[str, float] = EVENT_WEIGHTS) -> None:
        # Events move popularity and trending only: those two are copied, the other arrays are the version's
        # own (read, never written), so a worker does not hold a second copy of them (20 MB at 1M items).
        self.signals: ItemSignals = replace(signals, popularity=np.array(signals.popularity, copy=True),
                                            trending=np.array(signals.trending, copy=True))
        self._items = items
        self._tiebreak = tiebreak
        self._weights = dict(event_weights)
        n = len(signals.popularity)
        ref = float(signals.interactions.max()) if n else 1.0
        self._built = built_weights(signals.popularity, ref)
        self._top = max(ref, 1.0)
        self._base_trend = signals.trending.copy()
        self.live = np.zeros(n, np.float64)
        self._prior = max(float(np.median(signals.interactions[signals.interactions > 0]))
                          if (signals.interactions > 0).any() else 1.0, 1.0)
        self._best: dict[tuple[str, int], float] = {}  # (user, position) → strongest weight counted
        self._lock = threading.Lock()
        self.events_applied = 0
        self.popular_order = self._order(np.arange(n))

    def snapshot(self) -> tuple[ItemSignals, np.ndarray]:
        return self.signals, self.popular_order

    def _order(self, positions: np.ndarray) -> np.ndarray:
        order = popular_order(self.signals.popularity[positions], self._tiebreak[positions])
        return positions[order][:POPULAR_POOL]

    def apply(self, events: pd.DataFrame) -> int:
        """Count canonical events (distinct user × item, strongest type weight); return items touched."""
        pos = self._items.rows(events[S.PRODUCT_ID])
        weights = [self._weights.get(t, 0.0) for t in events[S.EVENT_TYPE].tolist()]
        touched: set[int] = set()
        with self._lock:
            for user, p, weight in zip(events[S.USER_ID].tolist(), pos.tolist(), weights, strict=True):
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
