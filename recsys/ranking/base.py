"""The ranking interface: what a request asks, what a ranker returns, and the `Ranker` protocol.

A ranker turns one request into scored candidates (`Scored`); the pipeline (`recsys.ranking.pipeline`)
then selects the top k with the same tie-break and diversity step for every ranker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from recsys.features.items import ItemFeatures
from recsys.index import VectorIndex

__all__ = ["Filters", "RankRequest", "Scored", "Ranked", "Ranker", "EMPTY_POSITIONS"]

EMPTY_POSITIONS = np.zeros(0, np.int64)


@dataclass(frozen=True)
class Filters:
    """Which candidates may be shown. Positions are catalogue row numbers."""

    exclude: frozenset[int] = frozenset()
    category: str | None = None
    min_price: float | None = None
    max_price: float | None = None

    def excluding(self, positions: np.ndarray | list[int] | set[int]) -> Filters:
        extra = frozenset(int(p) for p in np.asarray(list(positions), np.int64).tolist() if p >= 0)
        return Filters(self.exclude | extra, self.category, self.min_price, self.max_price)

    def without_exclusions(self) -> Filters:
        return Filters(frozenset(), self.category, self.min_price, self.max_price)


@dataclass(frozen=True)
class RankRequest:
    """One ranking request: a query vector and/or a history (positions with signed event weights)."""

    query: np.ndarray | None
    k: int
    filters: Filters = Filters()
    history_pos: np.ndarray = field(default_factory=lambda: EMPTY_POSITIONS)
    history_w: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: The vector index's nearest items to `query`, nearest first, when already known (searched at build
    #: time for a stored profile, `recsys.index.hits`); a ranker that needs more searches itself.
    vector_hits: np.ndarray | None = None

    @classmethod
    def of(cls, query: np.ndarray | None, k: int, filters: Filters = Filters(),
           history_pos: np.ndarray | None = None, history_w: np.ndarray | None = None,
           vector_hits: np.ndarray | None = None) -> RankRequest:
        hp = EMPTY_POSITIONS if history_pos is None else np.asarray(history_pos, np.int64)
        hw = np.ones(len(hp)) if history_w is None else np.asarray(history_w, float)
        return cls(query, k, filters, hp, hw, vector_hits)

    def nearest(self, index: VectorIndex, n: int) -> np.ndarray:
        """The `n` nearest items to the query (fewer when the index has fewer), from `vector_hits` when
        they reach that deep, else from one search of `index`."""
        hits = self.vector_hits
        if hits is not None and len(hits) >= n:
            ids = hits[:n]
        else:
            ids = index.search(np.asarray(self.query, np.float32)[None, :], n)[1][0]
        return ids[ids >= 0]

    @property
    def positive_history(self) -> np.ndarray:
        """History positions with positive evidence, oldest first."""
        return self.history_pos[(self.history_pos >= 0) & (self.history_w > 0)]


PartsOf = Callable[[np.ndarray], dict[str, np.ndarray]]
SourcesOf = Callable[[np.ndarray], list[tuple[str, ...]]]


@dataclass(frozen=True)
class Scored:
    """Candidates that passed the request's filters, their scores, score parts and sources.

    `parts` are per-candidate arrays, or a function of the selected candidate indices when parts cost
    more than scores (a learned model's contributions are computed for the shown results only); so may
    `sources` be (naming the sources of a few hundred candidates costs more than scoring them).
    """

    positions: np.ndarray
    scores: np.ndarray
    parts: dict[str, np.ndarray] | PartsOf
    sources: list[tuple[str, ...]] | SourcesOf

    @classmethod
    def empty(cls) -> Scored:
        return cls(EMPTY_POSITIONS, np.zeros(0, np.float32), {}, [])

    def parts_of(self, order: np.ndarray) -> dict[str, np.ndarray]:
        if callable(self.parts):
            return self.parts(order) if len(order) else {}
        return {f: v[order] for f, v in self.parts.items()}

    def sources_of(self, order: np.ndarray) -> list[tuple[str, ...]]:
        if callable(self.sources):
            return self.sources(order) if len(order) else []
        return [self.sources[i] for i in order.tolist()]


@dataclass(frozen=True)
class Ranked:
    """The selected top k, best first."""

    positions: np.ndarray
    scores: np.ndarray
    parts: dict[str, np.ndarray]
    sources: list[tuple[str, ...]]


class Ranker(Protocol):
    """Scores the candidates of one request from the item features it is given.

    `recsys.ranking.blend_ranker.BlendRanker` is the declared weighted blend; `recsys.ranking.ltr.ranker.
    LearnedRanker` ranks multi-source candidates with a LightGBM model. `needs_history` says whether the
    ranker can serve a request without positive history (the pipeline falls back otherwise).
    """

    name: str
    needs_history: bool

    def score(self, request: RankRequest, items: ItemFeatures) -> Scored: ...
