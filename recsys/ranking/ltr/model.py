"""The LightGBM LambdaMART model: train, predict, per-feature contributions, save and load.

A saved model is two files in an index version folder: the booster in LightGBM's text format and a JSON
sidecar with the feature names, the candidate parameters and what the model was trained on (as-of time,
users, positives), so an answer can be traced to the exact model that produced it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

from recsys.errors import ArtifactError, ConfigError
from recsys.ranking.ltr.candidates import CandidateParams

__all__ = ["LGBParams", "LearnedModel", "MODEL_FILE", "META_FILE", "train_model", "load_model"]

MODEL_FILE = "ltr_model.txt"
META_FILE = "ltr_model.json"
FORMAT = 1


@dataclass(frozen=True)
class LGBParams:
    n_estimators: int = 200
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 50
    subsample: float = 0.8
    colsample_bytree: float = 0.9
    eval_at: int = 10
    seed: int = 0
    #: One thread: on a shared 2-core box OpenMP spin-waiting made 2 threads 4× slower than 1.
    n_jobs: int = 1

    def lgb_params(self) -> dict[str, Any]:
        return {
            "objective": "lambdarank", "metric": "ndcg", "eval_at": [self.eval_at],
            "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples, "bagging_fraction": self.subsample, "bagging_freq": 1,
            "feature_fraction": self.colsample_bytree, "seed": self.seed, "deterministic": True,
            "force_row_wise": True, "num_threads": self.n_jobs, "verbosity": -1,
            "lambdarank_truncation_level": 20,
        }


@dataclass(frozen=True)
class LearnedModel:
    booster: lgb.Booster
    features: tuple[str, ...]
    candidates: CandidateParams
    meta: dict[str, Any] = field(default_factory=dict)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Scores of rows of `x` (n × F in `features` order)."""
        self._check(x)
        return self.booster.predict(x, num_threads=1).astype(np.float32) if len(x) else np.zeros(0, np.float32)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """n × (F + 1) SHAP contributions (last column: the bias); each row sums to the score."""
        self._check(x)
        if not len(x):
            return np.zeros((0, len(self.features) + 1), np.float32)
        return np.asarray(self.booster.predict(x, pred_contrib=True, num_threads=1), np.float32)

    def _check(self, x: np.ndarray) -> None:
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise ConfigError(f"the learned ranker expects n × {len(self.features)} features, got {x.shape}")

    def save(self, folder: Path) -> None:
        self.booster.save_model(str(folder / MODEL_FILE))
        meta = {"format": FORMAT, "features": list(self.features), "candidates": asdict(self.candidates),
                **self.meta}
        (folder / META_FILE).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")


def train_model(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, features: tuple[str, ...], candidates: CandidateParams,
    params: LGBParams = LGBParams(), meta: dict[str, Any] | None = None,
) -> LearnedModel:
    """LambdaMART on query groups (one per user, rows contiguous); `y` is 1 for held-out items."""
    if len(groups) == 0 or int(np.sum(y)) == 0:
        raise ConfigError(
            "too little data to train the learned ranker (no user's held-out item was among the candidates); "
            "use the weighted blend (ranker 'blend') for this dataset"
        )
    ds = lgb.Dataset(x, label=y, group=groups, feature_name=list(features), free_raw_data=True)
    booster = lgb.train(params.lgb_params(), ds, num_boost_round=params.n_estimators)
    info = {"lgb_params": asdict(params), "rows": int(len(y)), "groups": int(len(groups)),
            "positives": int(np.sum(y))} | (meta or {})
    return LearnedModel(booster, tuple(features), candidates, info)


def load_model(folder: Path) -> LearnedModel | None:
    """The model saved in `folder`, or None when the folder holds none (a blend-only index)."""
    model_path, meta_path = folder / MODEL_FILE, folder / META_FILE
    if not model_path.is_file():
        return None
    if not meta_path.is_file():
        raise ArtifactError(f"{model_path} has no {META_FILE} beside it; the index folder is incomplete, rebuild it")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ArtifactError(f"{meta_path} has format {meta.get('format')!r}, expected {FORMAT}; rebuild the index")
    features = tuple(meta.pop("features"))
    cands = meta.pop("candidates")
    cands["sources"] = tuple(cands["sources"])
    booster = lgb.Booster(model_file=str(model_path))
    if tuple(booster.feature_name()) != features:
        raise ArtifactError(f"{model_path} features {booster.feature_name()} differ from {meta_path}; rebuild")
    return LearnedModel(booster, features, CandidateParams(**cands), meta)
