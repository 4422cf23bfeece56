"""`--ranker auto`: fit the candidate rankers on an earlier slice of the build's events, measure them on
the next one, and serve the winner.

The split is the learned ranker's own: per user, the last step (the last interaction, or the last
interaction day when timestamps are real) is validation, everything before it is the fit slice. On the
fit slice the build computes the same `FeatureSet` it stores, then measures on a seeded sample of
validation users, their fit-slice items excluded, over the whole catalogue:
- `blend`: the given blend config;
- `blend_tuned`: the blend with its weights tuned by guarded coordinate ascent (a move needs a paired
  z ≥ 2 over the same users, so on small data tuning only moves on real evidence);
- `ltr`: the LightGBM ranker trained on the fit slice (users without positive history get the blend,
  as they do when served).
Above `AUTO_LTR_MAX_ITEMS` catalogue items the learned ranker is not a candidate: its training pass
scores every sampled user against the whole catalogue at each step (dense users × items matrices and an
exact nearest-neighbour table), which takes hours at a million items on a few cores; `--ranker ltr`
still trains it on request.

The winner is the highest mean recall@10; a candidate must beat the simpler one before it by a paired
z ≥ `MIN_Z_TO_SWITCH` to be preferred, so the choice does not chase noise on small validation sets.
Every candidate's numbers and the choice are recorded in the version's manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.config import FEATURES, BlendConfig
from recsys.data import schema as S
from recsys.errors import ConfigError
from recsys.features.compute import FeatureParams, FeatureSet, compute_features
from recsys.features.ids import IdMap
from recsys.features.sequences import ordered_histories, user_batch
from recsys.features.signals import SignalParams
from recsys.index.manifest import RankerInfo
from recsys.ranking.blend import blend_features
from recsys.ranking.tuning import coordinate_ascent, paired_z

__all__ = ["Selection", "select_ranker", "WEIGHT_SPACE", "MIN_Z_TO_SWITCH", "MAX_VALIDATION_USERS",
           "AUTO_LTR_MAX_ITEMS"]

Log = Callable[[str], None]

#: Weights tuned for `blend_tuned` (profile parameters would need the features recomputed per trial).
WEIGHT_SPACE: dict[str, tuple[float, ...]] = {
    "ease": (0.0, 0.25, 0.5, 1.0, 2.0, 4.0),
    "cosine": (0.0, 0.25, 0.5, 1.0, 2.0),
    "popularity": (0.0, 0.1, 0.3, 0.5, 1.0, 2.0),
    "cooc": (0.0, 0.25, 0.5, 1.0, 2.0),
    "trending": (0.0, 0.05, 0.2, 0.5),
    "rating": (0.0, 0.05, 0.2),
}
MIN_Z_TO_SWITCH = 1.0
MAX_VALIDATION_USERS = 2000
AUTO_LTR_MAX_ITEMS = 200_000
#: Budget for the cached per-feature score matrices of the validation users.
CUBE_BYTES = 600 * 2**20
K = 10


@dataclass(frozen=True)
class Selection:
    kind: str  # "blend" or "ltr"
    config: BlendConfig  # the blend config to serve (tuned when tuning won; the ltr fallback otherwise)
    info: RankerInfo


@dataclass(frozen=True)
class _Validation:
    users: np.ndarray
    targets: list[np.ndarray]
    excluded: np.ndarray  # b × n bool: the users' fit-slice items
    hists: list[np.ndarray]  # positive fit-slice history, oldest first


def _recall(scores: np.ndarray, v: _Validation, tiebreak: np.ndarray) -> np.ndarray:
    s = np.where(v.excluded, -np.inf, scores)
    n = s.shape[1]
    k = min(K, n)
    part = np.argpartition(-s, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (len(s), 1))
    vals = np.take_along_axis(s, part, axis=1)
    order = np.lexsort((tiebreak[part], -vals), axis=1)
    top = np.take_along_axis(part, order, axis=1)
    return np.array([np.isin(t, tg).sum() / len(tg) for t, tg in zip(top, v.targets, strict=True)], float)


def _validation(events: pd.DataFrame, pos: np.ndarray, fit: np.ndarray, label: np.ndarray, n_items: int,
                max_users: int, seed: int) -> _Validation:
    users = events[S.USER_ID].to_numpy(dtype=object)
    targets = pd.Series(pos[label]).groupby(users[label]).unique()
    fit_users = set(users[fit & (pos >= 0)].tolist())
    candidates = np.array(sorted(u for u in targets.index.tolist() if u in fit_users), dtype=object)
    if len(candidates) > max_users:
        candidates = np.sort(np.random.default_rng(seed).choice(candidates, max_users, replace=False))
    fit_events = events[fit].reset_index(drop=True)
    fit_pos = pos[fit]
    row = pd.Index(candidates).get_indexer(pd.Index(fit_events[S.USER_ID].to_numpy(dtype=object)))
    ok = (row >= 0) & (fit_pos >= 0)
    excluded = np.zeros((len(candidates), n_items), bool)
    excluded[row[ok], fit_pos[ok]] = True
    return _Validation(candidates, [np.asarray(targets[u], np.int64) for u in candidates.tolist()], excluded,
                       ordered_histories(fit_events, fit_pos, candidates))


def _blend_cube(feats: FeatureSet, event_users: np.ndarray, v: _Validation) -> dict[str, np.ndarray]:
    """The blend's feature values for the validation users over the whole catalogue (b × n each)."""
    prof = feats.profiles
    row = pd.Index(prof.user_ids).get_indexer(pd.Index(v.users))
    queries = np.zeros((len(v.users), feats.items.vectors.shape[1]), np.float32)
    queries[row >= 0] = prof.vectors[row[row >= 0]]
    ev_users = pd.Index(v.users).get_indexer(pd.Index(event_users))
    pos, w = feats.events.item_pos, feats.weights
    ok = (ev_users >= 0) & (pos >= 0) & (w > 0)
    hist = sp.csr_matrix((w[ok], (ev_users[ok], pos[ok])), shape=(len(v.users), feats.items.n_items),
                         dtype=np.float32)
    return blend_features(feats.items, queries, hist)


def _weighted(cube: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    total = np.zeros(next(iter(cube.values())).shape, np.float32)
    for f in FEATURES:
        if weights.get(f):
            total += np.float32(weights[f]) * cube[f]
    return total


def _ltr_recall(products: pd.DataFrame, fit_events: pd.DataFrame, feats: FeatureSet, v: _Validation,
                fallback: np.ndarray, signals: SignalParams, log: Log) -> np.ndarray | None:
    from recsys.ranking.ltr.scoring import exact_scoring_search, model_scores, score_batch
    from recsys.ranking.ltr.train import TrainParams, fit_ranker

    try:
        model = fit_ranker(products, fit_events, feats.items.vectors, TrainParams(), signals, log)
    except ConfigError as exc:
        log(f"ranker choice: the learned ranker cannot be trained on the fit slice ({exc})")
        return None
    items = feats.items
    scores = fallback.copy()
    search = exact_scoring_search(items)
    for a in range(0, len(v.users), 256):
        hists = v.hists[a : a + 256]
        has = np.array([len(h) > 0 for h in hists])
        if not has.any():
            continue
        idx = np.flatnonzero(has)
        batch = user_batch(items.vectors, [hists[i] for i in idx])
        cands, x = score_batch(items, batch, model.candidates, v.excluded[a + idx], search, model.features)
        s = model_scores(model, cands, x)
        block = np.full((len(idx), items.n_items), -np.inf, np.float32)
        rows, cols = np.nonzero(cands.positions >= 0)
        block[rows, cands.positions[rows, cols]] = s[rows, cols]
        scores[a + idx] = block
    return _recall(scores, v, items.tiebreak)


def select_ranker(products: pd.DataFrame, events: pd.DataFrame, item_vectors: np.ndarray,
                  event_text_vectors: np.ndarray, has_text: np.ndarray, config: BlendConfig,
                  params: FeatureParams, *, log: Log = lambda _m: None) -> Selection:
    """The ranker (and blend config) to serve for `events`, chosen as the module docstring describes."""
    from recsys.ranking.ltr.train import holdout_last

    pos = IdMap.of(products[S.PRODUCT_ID]).rows(events[S.PRODUCT_ID])
    fit, label = holdout_last(events, pos, "auto")
    n_items = len(products)
    max_users = int(min(MAX_VALIDATION_USERS, max(50, CUBE_BYTES // max(1, n_items * 4 * len(FEATURES)))))
    v = _validation(events, pos, fit, label, n_items, max_users, params.seed)
    if len(v.users) < 20:
        detail = f"{len(v.users)} validation users: too few to choose, the blend is served"
        log(f"ranker choice: {detail}")
        return Selection("blend", config, RankerInfo(kind="blend", chosen_by="too little data", detail=detail))
    fit_events = events[fit].reset_index(drop=True)
    as_of = fit_events[S.TIMESTAMP].max()
    feats = compute_features(products, fit_events, item_vectors, event_text_vectors[fit], has_text[fit], as_of,
                             params)
    cube = _blend_cube(feats, fit_events[S.USER_ID].to_numpy(dtype=object), v)
    tb = feats.items.tiebreak
    base = config.weights.model_dump()
    recalls = {"blend": _recall(_weighted(cube, base), v, tb)}
    tuned, _ = coordinate_ascent(lambda p: _recall(_weighted(cube, base | p), v, tb),
                                 {f: base[f] for f in WEIGHT_SPACE}, WEIGHT_SPACE)
    tuned_config = config.with_updates(weights=base | tuned)
    tuned_config = tuned_config.with_updates(id=f"tuned-{tuned_config.id.removeprefix('blend-')}")
    recalls["blend_tuned"] = _recall(_weighted(cube, base | tuned), v, tb)
    skipped = ""
    if n_items > AUTO_LTR_MAX_ITEMS:
        skipped = (f"; learned ranker not trained: {n_items:,} items > {AUTO_LTR_MAX_ITEMS:,} "
                   "(--ranker ltr trains it anyway)")
        log(f"ranker choice: {skipped[2:]}")
    else:
        ltr = _ltr_recall(products, fit_events, feats, v, _weighted(cube, base | tuned), params.signals, log)
        if ltr is not None:
            recalls["ltr"] = ltr
    best = "blend"
    for name in ("blend_tuned", "ltr"):
        if name in recalls and recalls[name].mean() > recalls[best].mean() \
                and paired_z(recalls[name], recalls[best]) >= MIN_Z_TO_SWITCH:
            best = name
    metrics = {name: {"recall@10": round(float(r.mean()), 4), "users": float(len(r))} for name, r in recalls.items()}
    detail = ", ".join(f"{n} {m['recall@10']:.4f}" for n, m in metrics.items())
    log(f"ranker choice on {len(v.users):,} validation users (recall@10): {detail} → {best}")
    info = RankerInfo(kind="ltr" if best == "ltr" else "blend", chosen_by="validation", metric="recall@10",
                      candidates=metrics, detail=f"fit on events up to {as_of}; winner {best}{skipped}")
    serve_config = config if best == "blend" else tuned_config
    if best == "ltr" and recalls["blend_tuned"].mean() <= recalls["blend"].mean():
        serve_config = config
    return Selection(info.kind, serve_config, info)
