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
from recsys.ranking.base import RankRequest, Scored, SourcesOf
from recsys.ranking.blend import (
    HistoryScores,
    OneRow,
    blend_features,
    blend_scores,
    filter_mask,
    summed_history,
    top_k_order,
)

__all__ = ["BlendRanker", "SOURCES"]

SOURCES = ("vector", "cooc", "ease", "popular")


class Candidates:
    """Candidate positions from several sources in first-appearance order, with a bit per source."""

    def __init__(self) -> None:
        self._pos: list[np.ndarray] = []
        self._bits: list[np.ndarray] = []
        self._merged_once = False

    def add(self, positions: np.ndarray, source: str) -> None:
        self._merged_once = False
        p = np.asarray(positions, np.int64)
        self._pos.append(p)
        self._bits.append(np.full(len(p), 1 << SOURCES.index(source), np.int64))

    def _merged(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._pos:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        if len(self._pos) == 1 and self._merged_once:
            return self._pos[0], self._bits[0]
        self._merged_once = True
        pos, bits = np.concatenate(self._pos), np.concatenate(self._bits)
        uniq, first, inv = np.unique(pos, return_index=True, return_inverse=True)
        mask = np.zeros(len(uniq), np.int64)
        np.bitwise_or.at(mask, inv, bits)
        order = np.argsort(first, kind="stable")
        self._pos, self._bits = [uniq[order]], [mask[order]]
        return self._pos[0], self._bits[0]

    def positions(self) -> np.ndarray:
        return self._merged()[0]

    def names_of(self, cand: np.ndarray) -> SourcesOf:
        """For `Scored.sources`: the source names of the selected rows of `cand` (which must come from
        `positions()`, possibly filtered)."""
        pos, bits = self._merged()
        lookup = dict(zip(pos.tolist(), bits.tolist(), strict=True))

        def names(order: np.ndarray) -> list[tuple[str, ...]]:
            return [tuple(s for i, s in enumerate(SOURCES) if lookup[p] >> i & 1) for p in cand[order].tolist()]

        return names


class BlendRanker:
    name = "blend"
    needs_history = False

    def __init__(self, index: VectorIndex, config: BlendConfig) -> None:
        self.index = index
        self.config = config

    @staticmethod
    def _products(request: RankRequest, items: ItemFeatures) -> HistoryScores | None:
        """The history's co-occurrence and EASE rows, once per request (None without positive history)."""
        ids, w = summed_history(request.history_pos, request.history_w)
        return HistoryScores.of_one(items, ids, w) if len(ids) else None

    def candidates(self, request: RankRequest, items: ItemFeatures,
                   products: HistoryScores | None = None) -> Candidates:
        """Every source's candidates, merged (first appearance order) with a bit per producing source."""
        cfg = self.config
        found = Candidates()
        if request.query is not None and len(self.index):
            fetch = min(cfg.candidates + len(request.filters.exclude) + request.k, len(self.index))
            found.add(request.nearest(self.index, fetch), "vector")
        if products is None:
            products = self._products(request, items)
        if products is not None:
            for source, scores in (("cooc", products.cooc), ("ease", products.ease)):
                positive = scores.data > 0
                ids, vals = scores.indices[positive], scores.data[positive]
                found.add(ids[top_k_order(vals, cfg.extra_candidates, items.tiebreak[ids])], source)
        found.add(items.popular[: cfg.extra_candidates], "popular")
        return found

    def _within_filters(self, request: RankRequest, items: ItemFeatures, found: Candidates) -> np.ndarray:
        """Adds to `found` the best candidates among every item that passes the filters; returns those that pass.

        One scan of the catalogue, made only when the usual candidates leave fewer than k."""
        allowed = np.flatnonzero(filter_mask(np.arange(items.n_items), items.category, items.price, request.filters))
        n = self.config.candidates
        if request.query is not None:
            cosine = items.vectors[allowed] @ np.asarray(request.query, np.float32)
            found.add(allowed[np.lexsort((items.tiebreak[allowed], -cosine))[:n]], "vector")
        found.add(items.popular[np.isin(items.popular, allowed)][:n], "popular")
        cand = found.positions()
        return cand[np.isin(cand, allowed)]

    def score(self, request: RankRequest, items: ItemFeatures) -> Scored:
        products = self._products(request, items)
        found = self.candidates(request, items, products)
        cand = found.positions()
        cand = cand[filter_mask(cand, items.category, items.price, request.filters)]
        f = request.filters
        if len(cand) < request.k and (f.category or f.min_price is not None or f.max_price is not None):
            # A narrow category or price band can reject every over-fetched candidate (28 accessories among
            # 1,547 gift cards): then the nearest and the most popular of the items it allows are candidates.
            cand = self._within_filters(request, items, found)
        if len(cand) == 0:
            return Scored.empty()
        query = None if request.query is None else request.query[None, :]
        if products is None:
            empty = OneRow(np.zeros(0, np.int64), np.zeros(0, np.float32), items.n_items)
            products = HistoryScores(empty, empty)
        values = {f: v[0] for f, v in blend_features(items, query, None, cand, products).items()}
        total, parts = blend_scores(values, self.config.weights)
        return Scored(cand, total, parts, found.names_of(cand))
