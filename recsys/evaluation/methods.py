"""The method set `recsys evaluate` runs: classic baselines plus the text and blend methods."""

from __future__ import annotations

from typing import Any

import numpy as np

from recsys.config import BlendConfig, BlendWeights
from recsys.encoders import Encoder
from recsys.evaluation.baselines import default_scorers
from recsys.evaluation.blend_scorers import BlendScorer, IndexedBlendScorer, params_from_config
from recsys.evaluation.data import EvalData
from recsys.evaluation.ltr_scorers import ltr_methods
from recsys.evaluation.scorer import Scorer
from recsys.evaluation.tuning import tune_blend

__all__ = ["TunedBlendScorer", "all_methods", "TEXT_ONLY"]

TEXT_ONLY = BlendConfig(id="text-only", weights=BlendWeights(cosine=1, popularity=0, trending=0, rating=0, cooc=0,
                                                                 sentiment=0, ease=0))


class TunedBlendScorer(IndexedBlendScorer):
    """The production-path blend with weights and profile parameters tuned on the validation split.

    `search` is the runner's tuning hook: it tunes with the fast exact `BlendScorer` and returns the
    flat parameters, which the runner then fits (train + valid) and evaluates on test like any method.
    """

    def __init__(self, encoder: Encoder, config: BlendConfig = BlendConfig(), *, name: str = "blend_tuned",
                 k: int = 50, max_users: int = 3000, rounds: int = 2) -> None:
        super().__init__(encoder, config, name=name, k=k)
        self.max_users = max_users
        self.rounds = rounds
        self.tuned: BlendConfig | None = None

    def search(self, data: EvalData, rows: np.ndarray, targets: list[np.ndarray]) -> tuple[dict[str, Any], list]:
        proxy = BlendScorer(self.encoder, self.config, name=f"{self.name}-proxy")
        self.tuned, trials = tune_blend(proxy, data, rows, targets, max_users=self.max_users, rounds=self.rounds)
        return params_from_config(self.tuned) | {"id": self.tuned.id}, trials


def all_methods(encoder: Encoder, config: BlendConfig = BlendConfig(), *, k: int = 50,
                only: list[str] | None = None) -> dict[str, Scorer]:
    methods: dict[str, Scorer] = dict(default_scorers())
    methods["text"] = BlendScorer(encoder, TEXT_ONLY, name="text")
    methods["blend"] = IndexedBlendScorer(encoder, config, name="blend", k=k)
    methods["blend_exact"] = BlendScorer(encoder, config, name="blend_exact")
    methods["blend_tuned"] = TunedBlendScorer(encoder, config, k=k)
    methods["default"] = IndexedBlendScorer(encoder, config, name="default", k=k, ranker="auto")
    methods.update(ltr_methods(encoder, only))
    if only:
        unknown = sorted(set(only) - methods.keys())
        if unknown:
            from recsys.errors import ConfigError

            raise ConfigError(f"unknown method(s) {unknown}; choose from {sorted(methods)}")
        methods = {n: m for n, m in methods.items() if n in only}
    return methods
