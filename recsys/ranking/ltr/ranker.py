"""`LearnedRanker`: the `Ranker` that ranks multi-source candidates with a version's LightGBM model.

It reads only the item features it is given (stored with the index version, with live counters laid
over them when the service has them), the vector index and the model trained at build time, so an answer
is reproducible from the version folder. `parts` of each result are the model's per-feature contributions
(LightGBM `pred_contrib`, SHAP values) plus `bias`; they sum to the score. It needs positive history: the
pipeline sends other requests (popular, free text) to its fallback ranker.
"""

from __future__ import annotations

import numpy as np

from recsys.features.items import ItemFeatures
from recsys.features.sequences import user_batch
from recsys.index import VectorIndex
from recsys.ranking.base import RankRequest, Scored
from recsys.ranking.blend import filter_mask
from recsys.ranking.ltr.candidates import VectorSearch
from recsys.ranking.ltr.model import LearnedModel
from recsys.ranking.ltr.scoring import score_batch

__all__ = ["LearnedRanker", "index_search"]


def index_search(index: VectorIndex, tiebreak: np.ndarray | None = None) -> VectorSearch:
    """The index's top-n; with `tiebreak`, equal scores inside each answer are re-ordered by it (an index
    returns copies of one vector in position order, which is often product-id order)."""

    def search(queries: np.ndarray, n: int) -> np.ndarray:
        scores, ids = index.search(np.ascontiguousarray(queries, np.float32), min(n, len(index)))
        if tiebreak is None or ids.size == 0:
            return ids
        tb = np.where(ids >= 0, tiebreak[np.maximum(ids, 0)], np.iinfo(np.int64).max)
        order = np.lexsort((tb, -np.where(ids >= 0, scores, -np.inf)), axis=1)
        return np.take_along_axis(ids, order, axis=1)

    return search


class LearnedRanker:
    name = "ltr"
    needs_history = True

    def __init__(self, model: LearnedModel, index: VectorIndex) -> None:
        self.model = model
        self.index = index

    def score(self, request: RankRequest, items: ItemFeatures) -> Scored:
        positive = request.positive_history
        if len(positive) == 0:
            return Scored.empty()
        batch = user_batch(items.vectors, [positive])
        excluded = np.zeros((1, items.n_items), bool)
        if request.filters.exclude:
            excluded[0, np.fromiter(request.filters.exclude, np.int64, len(request.filters.exclude))] = True
        cands, x = score_batch(items, batch, self.model.candidates, excluded, index_search(self.index, items.tiebreak),
                               self.model.features)
        valid = np.flatnonzero(cands.positions[0] >= 0)
        cand = cands.positions[0, valid]
        keep = filter_mask(cand, items.category, items.price, request.filters.without_exclusions())
        valid, cand = valid[keep], cand[keep]
        if len(cand) == 0:
            return Scored.empty()
        feats = x[0, valid]
        model = self.model

        def parts(order: np.ndarray) -> dict[str, np.ndarray]:
            contrib = model.contributions(feats[order])
            out = {name: contrib[:, j] for j, name in enumerate(model.features)}
            out["bias"] = contrib[:, -1]
            return out

        return Scored(cand, model.predict(feats), parts, [cands.sources_of(0, int(c)) for c in valid])
