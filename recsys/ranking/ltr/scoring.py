"""One batch through the learned-ranker pipeline: candidates → features (→ model scores)."""

from __future__ import annotations

import numpy as np

from recsys.features.items import ItemFeatures
from recsys.features.sequences import UserBatch
from recsys.ranking.ltr.candidates import CandidateParams, Candidates, VectorSearch, exact_search, generate_candidates
from recsys.ranking.ltr.features import compute_features
from recsys.ranking.ltr.model import LearnedModel

__all__ = ["score_batch", "model_scores", "exact_scoring_search"]


def exact_scoring_search(ctx: ItemFeatures) -> VectorSearch:
    """Exact search over the slice's vectors, equal similarities in the slice's tie-break order."""
    return exact_search(ctx.vectors, ctx.tiebreak)


def score_batch(
    ctx: ItemFeatures, batch: UserBatch, params: CandidateParams, excluded: np.ndarray, search: VectorSearch,
    names: tuple[str, ...], neighbours: np.ndarray | None = None,
) -> tuple[Candidates, np.ndarray]:
    """Candidates of the batch and their b × C × F features (NaN on padding)."""
    cands = generate_candidates(ctx, batch, params, excluded, search, neighbours)
    return cands, compute_features(ctx, batch, cands, params, names)


def model_scores(model: LearnedModel, cands: Candidates, x: np.ndarray) -> np.ndarray:
    """b × C model scores, −inf on padding."""
    b, c, f = x.shape
    valid = cands.positions >= 0
    out = np.full((b, c), -np.inf, np.float32)
    out[valid] = model.predict(x[valid].reshape(-1, f))
    return out
