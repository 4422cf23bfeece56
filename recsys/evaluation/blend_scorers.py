"""The text and blend methods as evaluation `Scorer`s, built from train data only.

- `BlendScorer` scores the whole catalogue with the production features and formula: the features come
  from `recsys.features.compute.compute_features` (what the build stores) and the scores from
  `recsys.ranking.blend` (what the ranker serves); with only the cosine weight on it is the `text`
  method. It is exact: no ANN, no candidate cut.
- `IndexedBlendScorer` goes through the production path: `build_index` on the train events into a temp
  folder (real FAISS, real candidate generation), then `Recommender.for_user` per user. With
  `ranker="auto"` it is the `default` method: exactly what a plain `recsys build` serves. Items the
  production ranker does not return get −inf. Comparing the two shows what the index and the candidate
  stage cost in recall.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.config import FEATURES, BlendConfig
from recsys.data import schema as S
from recsys.data.dataset import Dataset
from recsys.encoders import Encoder
from recsys.evaluation.data import EvalData
from recsys.evaluation.scorer import require_fitted
from recsys.features.compute import FeatureParams, compute_features
from recsys.features.profiles import ProfileParams
from recsys.features.signals import SignalParams
from recsys.ranking.blend import blend_features, blend_scores

if TYPE_CHECKING:
    from recsys.recommender import Recommender

__all__ = ["BlendScorer", "IndexedBlendScorer", "config_from_params", "params_from_config"]

PROFILE_KEYS = ("half_life_days", "item_weight", "text_weight")


def config_from_params(base: BlendConfig, params: dict[str, Any]) -> BlendConfig:
    """Overlay flat tuning params (feature weights and profile keys) on a config."""
    weights = base.weights.model_dump() | {k: v for k, v in params.items() if k in FEATURES}
    profile = base.profile.model_dump() | {k: v for k, v in params.items() if k in PROFILE_KEYS}
    return base.with_updates(weights=weights, profile=profile, id=params.get("id", ""))


def params_from_config(config: BlendConfig) -> dict[str, Any]:
    return config.weights.model_dump() | config.profile.model_dump()


class BlendScorer:
    """Full-catalogue blend over train-only features (see module docstring)."""

    def __init__(self, encoder: Encoder, config: BlendConfig = BlendConfig(), *, name: str = "blend_exact",
                 grid: list[dict[str, Any]] | None = None, signals: SignalParams = SignalParams()) -> None:
        self.name = name
        self.encoder = encoder
        self.config = config
        self.signal_params = signals
        self._grid = grid or [{}]
        self._state: dict[str, Any] | None = None

    def param_grid(self) -> list[dict[str, Any]]:
        return self._grid

    def fit(self, data: EvalData, params: dict[str, Any]) -> None:
        cfg = config_from_params(self.config, params)
        ev = data.train_events
        as_of = data.as_of if data.as_of is not None else pd.Timestamp.now(tz="UTC")
        item_vecs = self._item_vectors(data)
        texts = ev[S.TEXT].fillna("").astype(str).str.strip()
        has_text = (texts != "").to_numpy()
        text_vecs = np.zeros((len(ev), self.encoder.dim), np.float32)
        if has_text.any():
            text_vecs[has_text] = self.encoder.encode(texts[has_text].tolist(), kind="query")
        fp = FeatureParams(signals=self.signal_params, profile=ProfileParams(**cfg.profile.model_dump()))
        feats = compute_features(data.products, ev, item_vecs, text_vecs, has_text, as_of, fp)
        prof = feats.profiles
        rows = pd.Index(prof.user_ids).get_indexer(pd.Index(data.user_ids))
        users = np.zeros((data.n_users, self.encoder.dim), np.float32)
        users[rows >= 0] = prof.vectors[rows[rows >= 0]]
        pos, w = feats.events.item_pos, feats.weights
        urow = pd.Index(data.user_ids).get_indexer(pd.Index(ev[S.USER_ID].to_numpy(dtype=object)))
        ok = (pos >= 0) & (w > 0) & (urow >= 0)
        hist = sp.csr_matrix((w[ok], (urow[ok], pos[ok])), shape=(data.n_users, data.n_items), dtype=np.float32)
        self._state = {"users": users, "hist": hist, "items": feats.items, "config": cfg}

    def _item_vectors(self, data: EvalData) -> np.ndarray:
        from recsys.text.builders import product_texts

        return self.encoder.encode(product_texts(data.products), kind="passage")

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        st = require_fitted(self._state, self.name)
        values = blend_features(st["items"], st["users"][user_rows], st["hist"][user_rows])
        total, _ = blend_scores(values, st["config"].weights)
        return total


class IndexedBlendScorer:
    """The production path: build an index from train events, ask `Recommender.for_user` per user."""

    def __init__(self, encoder: Encoder, config: BlendConfig = BlendConfig(), *, name: str = "blend",
                 k: int = 50, grid: list[dict[str, Any]] | None = None,
                 ranker: Literal["auto", "blend", "ltr"] = "blend") -> None:
        self.name = name
        self.ranker = ranker
        self.encoder = encoder
        self.config = config
        self.k = k
        self._grid = grid or [{}]
        self._rec: Recommender | None = None
        self._data: EvalData | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="recsys-eval-")

    def param_grid(self) -> list[dict[str, Any]]:
        return self._grid

    def fit(self, data: EvalData, params: dict[str, Any]) -> None:
        from recsys.artifacts import load_artifacts
        from recsys.build.pipeline import BuildOptions, build_index
        from recsys.index import set_search_threads
        from recsys.recommender import Recommender

        set_search_threads(1)  # one query at a time: OpenMP fan-out only adds overhead (NOTES §4)
        cfg = config_from_params(self.config, params)
        ds = Dataset(data.products.reset_index(drop=True), data.train_events.reset_index(drop=True), "eval-train")
        out = Path(self._tmp.name) / self.name
        res = build_index(ds, out, self.encoder, BuildOptions(config=cfg, as_of=data.as_of, progress=False,
                                                              ranker=self.ranker))
        # A version whose build chose its own config (ranker "auto") serves that config.
        config = None if self.ranker == "auto" else cfg
        self._rec = Recommender(load_artifacts(res.path, config=config), config=config, encoder=self.encoder)
        self._data = data

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        rec, data = require_fitted(self._rec, self.name), require_fitted(self._data, self.name)
        out = np.full((len(user_rows), data.n_items), -np.inf, np.float32)
        pos_of = rec.art.product_position
        for i, row in enumerate(user_rows.tolist()):
            user = data.user_ids[row]
            answer = rec.for_user(user, self.k, on_unknown="fallback")
            for rank, r in enumerate(answer.results):
                out[i, pos_of(r.product_id)] = self.k - rank
        return out
