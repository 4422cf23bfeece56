"""The blended ranker: candidates from several sources, filtered, scored by declared weights.

Candidates: cosine neighbours of the query vector from the vector index (over-fetched so filters and
seen-item exclusion still leave enough), plus items co-occurring with the user's history, plus the most
popular items. Every candidate keeps the sources that produced it.
"""

from __future__ import annotations

import numpy as np

from recsys.config import BlendConfig
from recsys.features.items import ItemFeatures
from recsys.index import VectorIndex
from recsys.ranking.base import RankRequest, Scored
from recsys.ranking.blend import blend_features, blend_scores, filter_mask, history_weights

__all__ = ["BlendRanker", "SOURCES"]

SOURCES = ("vector", "cooc", "ease", "popular")


def _binary(m):
    out = m.copy()
    out.data[:] = 1.0
    return out


class BlendRanker:
    name = "blend"
    needs_history = False

    def __init__(self, index: VectorIndex, config: BlendConfig) -> None:
        self.index = index
        self.config = config

    def candidates(self, request: RankRequest, items: ItemFeatures) -> dict[int, set[str]]:
        """Candidate position → the sources that produced it."""
        cfg = self.config
        sources: dict[int, set[str]] = {}

        def add(positions: np.ndarray, source: str) -> None:
            for p in positions.tolist():
                sources.setdefault(int(p), set()).add(source)

        if request.query is not None and len(self.index):
            fetch = min(cfg.candidates + len(request.filters.exclude) + request.k, len(self.index))
            _, ids = self.index.search(request.query[None, :], fetch)
            add(ids[0][ids[0] >= 0], "vector")
        hist = history_weights(request.history_pos, request.history_w, items.n_items)
        if hist.nnz:
            for source, weights in (("cooc", items.cooc), ("ease", items.ease)):
                scores = (hist @ weights).tocsr() if source == "cooc" else (_binary(hist) @ weights).tocsr()
                positive = scores.data > 0
                ids, vals = scores.indices[positive], scores.data[positive]
                best = np.lexsort((items.tiebreak[ids], -vals))[: cfg.extra_candidates]
                add(ids[best], source)
        add(items.popular[: cfg.extra_candidates], "popular")
        return sources

    def _within_filters(self, request: RankRequest, items: ItemFeatures, found: dict[int, set[str]]) -> np.ndarray:
        """Adds to `found` the best candidates among every item that passes the filters; returns those that pass.

        One scan of the catalogue, made only when the usual candidates leave fewer than k."""
        allowed = np.flatnonzero(filter_mask(np.arange(items.n_items), items.category, items.price, request.filters))
        n = self.config.candidates
        if request.query is not None:
            cosine = items.vectors[allowed] @ np.asarray(request.query, np.float32)
            for p in allowed[np.lexsort((items.tiebreak[allowed], -cosine))[:n]].tolist():
                found.setdefault(int(p), set()).add("vector")
        for p in items.popular[np.isin(items.popular, allowed)][:n].tolist():
            found.setdefault(int(p), set()).add("popular")
        cand = np.fromiter(found.keys(), np.int64, len(found))
        return cand[np.isin(cand, allowed)]

    def score(self, request: RankRequest, items: ItemFeatures) -> Scored:
        found = self.candidates(request, items)
        cand = np.fromiter(found.keys(), np.int64, len(found))
        cand = cand[filter_mask(cand, items.category, items.price, request.filters)]
        f = request.filters
        if len(cand) < request.k and (f.category or f.min_price is not None or f.max_price is not None):
            # A narrow category or price band can reject every over-fetched candidate (28 accessories among
            # 1,547 gift cards): then the nearest and the most popular of the items it allows are candidates.
            cand = self._within_filters(request, items, found)
        if len(cand) == 0:
            return Scored.empty()
        hist = history_weights(request.history_pos, request.history_w, items.n_items)
        query = None if request.query is None else request.query[None, :]
        values = {f: v[0] for f, v in blend_features(items, query, hist, cand).items()}
        total, parts = blend_scores(values, self.config.weights)
        return Scored(cand, total, parts, [tuple(s for s in SOURCES if s in found[int(p)]) for p in cand])
