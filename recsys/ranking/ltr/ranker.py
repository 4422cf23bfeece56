"""`LearnedRanker`: the `Ranker` that ranks multi-source candidates with the index's LightGBM model.

It reads only the index version (item vectors, FAISS index, stored co-occurrence and signals, history
timestamps) and the model trained at build time, so an answer is reproducible from the version folder.
`parts` of each result are the model's per-feature contributions (LightGBM `pred_contrib`, SHAP values)
plus `bias`; they sum to the score. Requests without positive history (popular, free text) and requests
the model cannot serve fall back to the weighted blend, the simple default.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.data import schema as S
from recsys.artifacts import POSITION, Artifacts
from recsys.ranking.blend import Filters, filter_mask, top_k_order
from recsys.config import BlendConfig
from recsys.errors import ArtifactError
from recsys.ranking.ltr.candidates import VectorSearch
from recsys.ranking.ltr.context import (
    ItemContext, assemble_context, first_seen_age, ordered_histories, transitions, user_batch,
)
from recsys.ranking.ltr.scoring import score_batch
from recsys.ranking.blend_ranker import BlendRanker, Ranked

__all__ = ["LearnedRanker", "context_from_artifacts"]


def context_from_artifacts(art: Artifacts) -> ItemContext:
    """The serving context: the index's stored co-occurrence and signals, ages from the stored history."""
    hist, n = art.history, len(art.products)
    pos = hist[POSITION].to_numpy(np.int64)
    age = first_seen_age(hist, pos, n, hist[S.TIMESTAMP].max()) if len(hist) else np.full(n, np.nan)
    trans = transitions(ordered_histories(hist, pos, pd.unique(hist[S.USER_ID].to_numpy(dtype=object))), n)
    return assemble_context(art.products, art.item_vectors, art.cooc, trans, art.signals, age)


class LearnedRanker:
    def __init__(self, art: Artifacts, config: BlendConfig) -> None:
        if art.ltr is None:
            raise ArtifactError(f"index {art.version} holds no learned-ranker model; rebuild with `--ranker ltr`")
        self.art = art
        self.config = config
        self.model = art.ltr
        self.blend = BlendRanker(art, config)
        self.ctx = context_from_artifacts(art)
        self._categories = art.products[S.CATEGORY].to_numpy(dtype=object)
        self._prices = art.products[S.PRICE].to_numpy(dtype=float)

    def _search(self) -> VectorSearch:
        index = self.art.index

        def search(queries: np.ndarray, n: int) -> np.ndarray:
            return index.search(np.ascontiguousarray(queries, np.float32), min(n, len(index)))[1]

        return search

    def rank(
        self, query: np.ndarray | None, *, k: int, filters: Filters = Filters(),
        history_pos: np.ndarray | None = None, history_w: np.ndarray | None = None,
    ) -> Ranked:
        hp = np.zeros(0, np.int64) if history_pos is None else np.asarray(history_pos, np.int64)
        hw = np.ones(len(hp)) if history_w is None else np.asarray(history_w, float)
        positive = hp[(hp >= 0) & (hw > 0)]
        if len(positive) == 0:
            return self.blend.rank(query, k=k, filters=filters, history_pos=history_pos, history_w=history_w)
        batch = user_batch(self.ctx, [positive])
        excluded = np.zeros((1, self.ctx.n_items), bool)
        if filters.exclude:
            excluded[0, np.fromiter(filters.exclude, np.int64, len(filters.exclude))] = True
        cands, x = score_batch(self.ctx, batch, self.model.candidates, excluded, self._search(),
                               self.model.features)
        valid = np.flatnonzero(cands.positions[0] >= 0)
        cand = cands.positions[0, valid]
        keep = filter_mask(cand, self._categories, self._prices, Filters(frozenset(), filters.category,
                                                                         filters.min_price, filters.max_price))
        valid, cand = valid[keep], cand[keep]
        if len(cand) == 0:
            return Ranked(np.zeros(0, np.int64), np.zeros(0, np.float32), {}, [])
        feats = x[0, valid]
        scores = self.model.predict(feats)
        order = top_k_order(scores, k, cand)
        contrib = self.model.contributions(feats[order])
        parts = {name: contrib[:, j] for j, name in enumerate(self.model.features)}
        parts["bias"] = contrib[:, -1]
        return Ranked(
            positions=cand[order],
            scores=scores[order],
            parts=parts,
            sources=[cands.sources_of(0, int(c)) for c in valid[order]],
        )
