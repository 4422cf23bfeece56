"""The multi-source candidate methods as evaluation `Scorer`s.

- `multisource`: the union of the candidate sources (profile and recent-item vectors, order-aware
  ItemKNN, transitions, EASE, popular), ordered by reciprocal rank fusion: the hand-scored baseline of
  the learned ranker.
- `ltr`: the same candidates ranked by LightGBM LambdaMART, trained inside `fit` on the events it is
  given (each of a user's last few steps = label, everything before it = input), so a model fitted for
  the test phase has seen train + validation events only. `ltr-no_<source>` / `ltr-no_<feature group>`
  are the ablations; a name that is both a source and a feature group (`ease`) drops both.
Items outside the candidate set score −inf.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from recsys.encoders import Encoder
from recsys.errors import ConfigError
from recsys.evaluation.data import EvalData
from recsys.evaluation.scorer import Scorer, require_fitted
from recsys.features.items import ItemFeatures
from recsys.features.sequences import UserBatch, ordered_histories, user_batch
from recsys.ranking.ltr.candidates import SOURCES, CandidateParams, generate_candidates, item_neighbours
from recsys.ranking.ltr.features import FEATURE_GROUPS, feature_names
from recsys.ranking.ltr.model import LearnedModel
from recsys.ranking.ltr.scoring import exact_scoring_search, model_scores, score_batch
from recsys.ranking.ltr.train import NEIGHBOUR_SLACK, TrainParams, fit_ranker, slice_features

__all__ = ["MultiSourceScorer", "LTRScorer", "ltr_methods", "ABLATIONS"]

ABLATIONS = tuple(dict.fromkeys(f"ltr-no_{s}" for s in (*SOURCES, *FEATURE_GROUPS)))


class MultiSourceScorer:
    """Candidate union ordered by reciprocal rank fusion (see module docstring)."""

    def __init__(self, encoder: Encoder, params: CandidateParams = CandidateParams(), *,
                 name: str = "multisource", batch_size: int = 256) -> None:
        self.name = name
        self.encoder = encoder
        self.params = params
        self.batch_size = batch_size
        self._ctx: ItemFeatures | None = None
        self._hists: list[np.ndarray] = []
        self._data: EvalData | None = None
        self._vectors: np.ndarray | None = None
        self._neighbours: np.ndarray | None = None

    def param_grid(self) -> list[dict[str, Any]]:
        return [{}]

    def fit(self, data: EvalData, params: dict[str, Any]) -> None:
        from recsys.text.builders import product_texts

        self._vectors = self.encoder.encode(product_texts(data.products), kind="passage")
        ev = data.train_events
        if data.as_of is None or len(ev) == 0:
            raise ConfigError(f"{self.name} needs train events to build its candidate sources")
        self._ctx, pos = slice_features(data.products, ev, self._vectors, data.as_of)
        self._hists = ordered_histories(ev, pos, data.user_ids)
        self._neighbours = item_neighbours(self._ctx.vectors, self.params.recent + NEIGHBOUR_SLACK,
                                           tiebreak=self._ctx.tiebreak)
        self._data = data

    def _fitted(self) -> ItemFeatures:
        require_fitted(self._ctx, self.name)
        assert self._ctx is not None  # for mypy: require_fitted raised otherwise
        return self._ctx

    def _batches(self, user_rows: np.ndarray) -> Iterator[tuple[int, UserBatch, np.ndarray]]:
        ctx, data = self._fitted(), self._data
        assert data is not None  # fit sets it with the features
        for a in range(0, len(user_rows), self.batch_size):
            rows = user_rows[a : a + self.batch_size]
            batch = user_batch(ctx.vectors, [self._hists[r] for r in rows.tolist()])
            excluded = data.matrix[rows].toarray() > 0
            yield a, batch, excluded

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        ctx = self._fitted()
        out = np.full((len(user_rows), ctx.n_items), -np.inf, np.float32)
        search = exact_scoring_search(ctx)
        for a, batch, excluded in self._batches(user_rows):
            cands = generate_candidates(ctx, batch, self.params, excluded, search, self._neighbours)
            _scatter(out, a, cands.positions, cands.fusion_scores())
        return out


class LTRScorer(MultiSourceScorer):
    """Candidates ranked by a LambdaMART model trained on the fitted-on events only."""

    def __init__(self, encoder: Encoder, train: TrainParams = TrainParams(), *, name: str = "ltr",
                 batch_size: int = 256) -> None:
        super().__init__(encoder, train.candidates, name=name, batch_size=batch_size)
        self.train = train
        self.model: LearnedModel | None = None

    def fit(self, data: EvalData, params: dict[str, Any]) -> None:
        super().fit(data, params)
        assert self._vectors is not None  # set by the fit above
        self.model = fit_ranker(data.products, data.train_events, self._vectors, self.train)

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        require_fitted(self.model, self.name)
        model, ctx = self.model, self._fitted()
        assert model is not None  # for mypy: require_fitted raised otherwise
        out = np.full((len(user_rows), ctx.n_items), -np.inf, np.float32)
        search = exact_scoring_search(ctx)
        for a, batch, excluded in self._batches(user_rows):
            cands, x = score_batch(ctx, batch, self.params, excluded, search, model.features, self._neighbours)
            _scatter(out, a, cands.positions, model_scores(model, cands, x))
        return out


def _scatter(out: np.ndarray, start: int, positions: np.ndarray, scores: np.ndarray) -> None:
    rows, cols = np.nonzero(positions >= 0)
    out[start + rows, positions[rows, cols]] = scores[rows, cols]


def _ablation(encoder: Encoder, name: str) -> Scorer:
    what = name.removeprefix("ltr-no_")
    params = TrainParams()
    if what in SOURCES:
        params = replace(params, candidates=replace(params.candidates, sources=tuple(s for s in SOURCES if s != what)))
    if what in FEATURE_GROUPS or what not in SOURCES:
        feature_names((what,))  # validates the group name
        params = replace(params, drop_groups=(what,))
    return LTRScorer(encoder, params, name=name)


def ltr_methods(encoder: Encoder, only: list[str] | None = None) -> dict[str, Scorer]:
    """`multisource` and `ltr` always; ablations only when named in `only` (each trains a model)."""
    methods: dict[str, Scorer] = {"multisource": MultiSourceScorer(encoder), "ltr": LTRScorer(encoder)}
    for name in only or ():
        if name in ABLATIONS:
            methods[name] = _ablation(encoder, name)
    return methods


