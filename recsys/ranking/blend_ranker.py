"""The blended ranker: candidates from several sources, filtered, scored by declared weights, top-k.

Candidates: cosine neighbours of the query vector from the vector index (over-fetched so filters and
seen-item exclusion still leave enough), plus items co-occurring with the user's history, plus the most
popular items. Every candidate keeps the sources that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.sparse as sp

from recsys.data import schema as S
from recsys.artifacts import Artifacts
from recsys.ranking.blend import Filters, blend_scores, filter_mask, mmr_select, top_k_order
from recsys.config import BlendConfig

__all__ = ["Ranker", "BlendRanker", "Ranked", "SOURCES", "make_ranker"]

SOURCES = ("vector", "cooc", "popular")


@dataclass(frozen=True)
class Ranked:
    positions: np.ndarray
    scores: np.ndarray
    parts: dict[str, np.ndarray]
    sources: list[tuple[str, ...]]


class Ranker(Protocol):
    """What the recommender asks of a ranker: the top k for a query vector and/or a history.

    `BlendRanker` (below) is the declared weighted blend, the simple tunable default;
    `recsys.ranking.ltr.ranker.LearnedRanker` ranks multi-source candidates with the index's LightGBM model.
    """

    def rank(
        self, query: np.ndarray | None, *, k: int, filters: Filters = ...,
        history_pos: np.ndarray | None = None, history_w: np.ndarray | None = None,
    ) -> Ranked: ...


def make_ranker(art: Artifacts, config: BlendConfig) -> Ranker:
    """The learned ranker when the index version holds a trained model, else the weighted blend."""
    if art.ltr is not None:
        from recsys.ranking.ltr.ranker import LearnedRanker

        return LearnedRanker(art, config)
    return BlendRanker(art, config)


class BlendRanker:
    def __init__(self, art: Artifacts, config: BlendConfig) -> None:
        self.art = art
        self.config = config
        pop = art.signals.popularity
        self._popular = np.lexsort((np.arange(len(pop)), -pop))[: max(config.extra_candidates, 1)]
        self._categories = art.products[S.CATEGORY].to_numpy(dtype=object)
        self._prices = art.products[S.PRICE].to_numpy(dtype=float)

    def cooc_scores(self, history_pos: np.ndarray, history_w: np.ndarray) -> sp.csr_matrix:
        """Sum of co-occurrence rows of the history items, weighted by positive event weights."""
        n = self.art.cooc.shape[0]
        keep = (history_pos >= 0) & (history_w > 0)
        if not keep.any():
            return sp.csr_matrix((1, n), dtype=np.float32)
        hv = sp.csr_matrix((history_w[keep], (np.zeros(keep.sum(), int), history_pos[keep])), shape=(1, n))
        return (hv @ self.art.cooc).tocsr()

    def rank(
        self,
        query: np.ndarray | None,
        *,
        k: int,
        filters: Filters = Filters(),
        history_pos: np.ndarray | None = None,
        history_w: np.ndarray | None = None,
    ) -> Ranked:
        cfg = self.config
        hp = np.zeros(0, np.int64) if history_pos is None else np.asarray(history_pos, np.int64)
        hw = np.ones(len(hp)) if history_w is None else np.asarray(history_w, float)
        sources: dict[int, set[str]] = {}

        def add(positions: np.ndarray, source: str) -> None:
            for p in positions.tolist():
                sources.setdefault(int(p), set()).add(source)

        if query is not None:
            fetch = min(cfg.candidates + len(filters.exclude) + k, len(self.art.index))
            _, ids = self.art.index.search(query[None, :], fetch)
            add(ids[0][ids[0] >= 0], "vector")
        co = self.cooc_scores(hp, hw)
        if co.nnz:
            top = co.indices[np.argsort(-co.data, kind="stable")[: cfg.extra_candidates]]
            add(top, "cooc")
        add(self._popular[: cfg.extra_candidates], "popular")

        cand = np.fromiter(sources.keys(), np.int64, len(sources))
        cand = cand[filter_mask(cand, self._categories, self._prices, filters)]
        if len(cand) == 0:
            return Ranked(np.zeros(0, np.int64), np.zeros(0, np.float32), {}, [])
        sig = self.art.signals
        cooc = np.asarray(co[:, cand].todense()).ravel() if co.nnz else np.zeros(len(cand))
        top_co = float(co.data.max()) if co.nnz else 0.0
        features = {
            "cosine": self.art.item_vectors[cand] @ query if query is not None else np.zeros(len(cand), np.float32),
            "popularity": sig.popularity[cand],
            "trending": sig.trending[cand],
            "rating": np.where(sig.rating_count[cand] > 0, sig.rating[cand], 0.0),
            "cooc": cooc / top_co if top_co > 0 else cooc,
            "sentiment": sig.sentiment[cand],
        }
        total, parts = blend_scores(features, cfg.weights)
        if cfg.mmr_lambda is not None and cfg.mmr_lambda < 1.0:
            pool = top_k_order(total, max(k * 5, 50), cand)
            order = pool[mmr_select(total[pool], self.art.item_vectors[cand[pool]], k, cfg.mmr_lambda)]
        else:
            order = top_k_order(total, k, cand)
        return Ranked(
            positions=cand[order],
            scores=total[order],
            parts={f: v[order] for f, v in parts.items()},
            sources=[tuple(s for s in SOURCES if s in sources[int(p)]) for p in cand[order]],
        )
