"""The LightGBM LambdaMART model: train, predict, per-feature contributions, save and load.

A saved model is two files in an index version folder: the booster in LightGBM's text format and a JSON
sidecar with the feature names, the candidate parameters and what the model was trained on (as-of time,
users, positives, the early-stopping outcome), so an answer can be traced to the exact model that
produced it.
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

__all__ = ["LGBParams", "LearnedModel", "Prior", "MODEL_FILE", "META_FILE", "train_model", "load_model"]

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
    #: L2 on leaf values and a cap on each leaf's step: LambdaMART's hessians are tiny for pairs that are
    #: already far apart (as they are when boosting from a prior), and without these a Newton step
    #: −g/h can throw a well-ordered list into disorder in one tree.
    reg_lambda: float = 1.0
    max_delta_step: float = 0.0
    #: With a validation set: stop when its NDCG@eval_at has not improved for this many rounds
    #: (`n_estimators` is then the cap).
    early_stopping_rounds: int = 30
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
            "lambdarank_truncation_level": 20, "lambda_l2": self.reg_lambda, "max_delta_step": self.max_delta_step,
        }


#: Rank given to candidates a source did not return, in the prior's formula.
PRIOR_MISSING_RANK = 1000.0


@dataclass(frozen=True)
class Prior:
    """A fixed starting score the trees are boosted from: −weight × log2(2 + rank) of one source's rank
    feature (a candidate the source did not return counts as rank `PRIOR_MISSING_RANK`).

    With a few hundred training users, trees alone rank worse than the best single source; boosting from
    that source's order (LightGBM's init score) lets them learn only the corrections the data supports.
    """

    feature: str
    weight: float = 1.0

    def score(self, x: np.ndarray, features: tuple[str, ...]) -> np.ndarray:
        r = x[:, features.index(self.feature)]
        return (-self.weight * np.log2(2.0 + np.where(np.isnan(r), PRIOR_MISSING_RANK, r))).astype(np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "weight": self.weight, "formula": "-weight * log2(2 + rank)",
                "missing_rank": PRIOR_MISSING_RANK}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Prior | None:
        return None if not d else cls(d["feature"], float(d["weight"]))


@dataclass(frozen=True)
class LearnedModel:
    booster: lgb.Booster
    features: tuple[str, ...]
    candidates: CandidateParams
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def prior(self) -> Prior | None:
        return Prior.from_dict(self.meta.get("prior"))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Scores of rows of `x` (n × F in `features` order): the prior (if any) plus the trees."""
        self._check(x)
        if not len(x):
            return np.zeros(0, np.float32)
        out = np.asarray(self.booster.predict(x, num_threads=1), np.float64)
        prior = self.prior
        return (out + prior.score(x, self.features) if prior else out).astype(np.float32)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """n × (F + 1) contributions (last column: the bias); each row sums to the score. The trees' part
        is SHAP (LightGBM `pred_contrib`); the prior is added to the column of the feature it is made of."""
        self._check(x)
        if not len(x):
            return np.zeros((0, len(self.features) + 1), np.float32)
        out = np.asarray(self.booster.predict(x, pred_contrib=True, num_threads=1), np.float64)
        prior = self.prior
        if prior:
            out[:, self.features.index(prior.feature)] += prior.score(x, self.features)
        return out.astype(np.float32)

    def _check(self, x: np.ndarray) -> None:
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise ConfigError(f"the learned ranker expects n × {len(self.features)} features, got {x.shape}")

    def save(self, folder: Path) -> None:
        self.booster.save_model(str(folder / MODEL_FILE))
        meta = {"format": FORMAT, "features": list(self.features), "candidates": asdict(self.candidates),
                **self.meta}
        (folder / META_FILE).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")


def _dataset(x: np.ndarray, y: np.ndarray, groups: np.ndarray, features: tuple[str, ...], prior: Prior | None,
             reference: lgb.Dataset | None = None) -> lgb.Dataset:
    return lgb.Dataset(x, label=y, group=groups, feature_name=list(features), free_raw_data=True,
                       reference=reference, init_score=prior.score(x, features) if prior else None)


Rows = tuple[np.ndarray, np.ndarray, np.ndarray]  # x, y, group sizes


def train_model(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, features: tuple[str, ...], candidates: CandidateParams,
    params: LGBParams = LGBParams(), meta: dict[str, Any] | None = None, *,
    valid: Rows | None = None, refit: Rows | None = None, prior: Prior | None = None,
) -> LearnedModel:
    """LambdaMART on query groups (rows contiguous per group); `y` is 1 for held-out items.

    With `valid`, training stops early on the validation groups' NDCG@`eval_at` and keeps the best
    iteration count; with `refit` as well, the returned model is retrained on `refit`'s rows (usually
    training + validation) for exactly that many iterations. The meta's `early_stopping` says what happened.
    With `prior`, the trees are boosted from it (see `Prior`) and the model's scores include it.
    """
    if len(groups) == 0 or int(np.sum(y)) == 0:
        raise ConfigError(
            "too little data to train the learned ranker (no user's held-out item was among the candidates); "
            "use the weighted blend (ranker 'blend') for this dataset"
        )
    lgb_params = params.lgb_params()
    ds = _dataset(x, y, groups, features, prior)
    info: dict[str, Any] = {"lgb_params": asdict(params), "prior": prior.to_dict() if prior else None}
    if valid is None:
        booster = lgb.train(lgb_params, ds, num_boost_round=params.n_estimators)
        rows, positives, n_groups = len(y), int(np.sum(y)), len(groups)
    else:
        vx, vy, vg = valid
        dv = _dataset(vx, vy, vg, features, prior, reference=ds)
        record: dict[str, Any] = {}
        booster = lgb.train(lgb_params, ds, num_boost_round=params.n_estimators, valid_sets=[dv],
                            valid_names=["valid"],
                            callbacks=[lgb.early_stopping(params.early_stopping_rounds, first_metric_only=True,
                                                          verbose=False), lgb.record_evaluation(record)])
        curve = record["valid"][f"ndcg@{params.eval_at}"]
        best = int(booster.best_iteration) or len(curve)
        info["early_stopping"] = {
            "metric": f"ndcg@{params.eval_at}", "best_iteration": best, "valid_ndcg": float(curve[best - 1]),
            "valid_ndcg_first": float(curve[0]), "rounds_run": len(curve), "valid_groups": int(len(vg)),
            "valid_rows": int(len(vy)), "train_groups": int(len(groups)), "refit": refit is not None,
        }
        if refit is None:
            booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
            rows, positives, n_groups = len(y), int(np.sum(y)), len(groups)
        else:
            rx, ry, rg = refit
            booster = lgb.train(lgb_params, _dataset(rx, ry, rg, features, prior), num_boost_round=best)
            rows, positives, n_groups = len(ry), int(np.sum(ry)), len(rg)
    info |= {"rows": int(rows), "groups": int(n_groups), "positives": positives} | (meta or {})
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
