"""Training examples for the learned ranker from an earlier time slice, and the build-time trainer.

For every user, the last step of the given events (the last interaction, or the last interaction day
when timestamps are real) is the label and everything strictly before it is the input. Features are
computed from `ItemFeatures` built on the input part only, so a label never sees itself in the
co-occurrence, popularity or history it is ranked with. Callers pass only events before their evaluation
cut: nothing here looks at anything else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from recsys.data import schema as S
from recsys.errors import ConfigError
from recsys.ranking.ltr.candidates import CandidateParams, item_neighbours
from recsys.features.events import event_features
from recsys.features.ids import IdMap
from recsys.features.items import ItemFeatures, item_features
from recsys.features.sequences import ordered_histories, user_batch
from recsys.ranking.ltr.features import feature_names
from recsys.ranking.ltr.model import LearnedModel, LGBParams, train_model
from recsys.ranking.ltr.scoring import exact_scoring_search, score_batch
from recsys.features.signals import SignalParams

__all__ = ["Holdout", "TrainParams", "holdout_last", "fit_ranker", "train_for_index", "slice_features"]

Holdout = Literal["auto", "event", "day"]
#: Extra neighbours per item in the lookup table, so excluded history items still leave enough.
NEIGHBOUR_SLACK = 50


@dataclass(frozen=True)
class TrainParams:
    candidates: CandidateParams = CandidateParams()
    lgb: LGBParams = LGBParams()
    holdout: Holdout = "auto"
    max_users: int = 10_000
    #: Negatives kept per user (seeded sample; all positives are kept): bounds the LightGBM training rows.
    max_negatives: int = 50
    drop_groups: tuple[str, ...] = ()
    batch_size: int = 256
    seed: int = 0


def _resolve(holdout: Holdout, events: pd.DataFrame) -> Literal["event", "day"]:
    if holdout != "auto":
        return holdout
    ts = events[S.TIMESTAMP]
    return "day" if len(ts) and (ts.max() - ts.min()) > pd.Timedelta(days=1) else "event"


def holdout_last(events: pd.DataFrame, item_pos: np.ndarray, holdout: Holdout = "auto") -> tuple[np.ndarray, np.ndarray]:
    """(input mask, label mask) over event rows: per user, the last step is the label (see module doc)."""
    by = _resolve(holdout, events)
    users = pd.factorize(events[S.USER_ID])[0]
    inter = item_pos >= 0
    if by == "day":
        key = (events[S.TIMESTAMP].dt.floor("D") - pd.Timestamp(0, tz="UTC")).dt.days.to_numpy(np.int64)
    else:
        ts = events[S.TIMESTAMP].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype(np.int64)
        order = np.lexsort((np.arange(len(events)), ts, users))
        key = np.empty(len(events), np.int64)
        key[order] = np.arange(len(events))
    last = pd.Series(np.where(inter, key, np.iinfo(np.int64).min)).groupby(users).transform("max").to_numpy()
    label = inter & (key == last)
    return key < last, label


def _sample_users(users: np.ndarray, max_users: int, seed: int) -> np.ndarray:
    if len(users) <= max_users:
        return users
    return np.sort(np.random.default_rng(seed).choice(users, size=max_users, replace=False))


def fit_ranker(
    products: pd.DataFrame, events: pd.DataFrame, item_vectors: np.ndarray, params: TrainParams = TrainParams(),
    signal_params: SignalParams = SignalParams(), log: Callable[[str], None] = lambda _m: None,
) -> LearnedModel:
    """Train on `events` (all strictly before the caller's cut): last step per user = label."""
    item_pos = IdMap.of(products[S.PRODUCT_ID]).rows(events[S.PRODUCT_ID])
    inp, lab = holdout_last(events, item_pos, params.holdout)
    if not inp.any() or not lab.any():
        raise ConfigError("too little data to train the learned ranker: no user has events before their last "
                          "step; use the weighted blend (ranker 'blend')")
    in_events = events[inp].reset_index(drop=True)
    as_of = in_events[S.TIMESTAMP].max()
    ctx, in_pos = slice_features(products, in_events, item_vectors, as_of, signal_params)
    labels = pd.Series(item_pos[lab]).groupby(events[S.USER_ID].to_numpy(dtype=object)[lab]).unique()
    users = np.intersect1d(labels.index.to_numpy(dtype=object), in_events[S.USER_ID].unique().astype(object))
    users = _sample_users(users, params.max_users, params.seed)
    hists = ordered_histories(in_events, in_pos, users)
    keep = np.array([len(h) > 0 for h in hists])
    users = users[keep]
    hists = [h for h, k in zip(hists, keep, strict=True) if k]
    names = feature_names(params.drop_groups)
    log(f"learned ranker: {len(users):,} training users, input as of {as_of}")
    xs, ys, groups = [], [], []
    rng = np.random.default_rng(params.seed)
    search = exact_scoring_search(ctx)
    neighbours = item_neighbours(ctx.vectors, params.candidates.recent + NEIGHBOUR_SLACK)
    for a in range(0, len(users), params.batch_size):
        batch = user_batch(ctx.vectors, hists[a : a + params.batch_size])
        excluded = np.zeros((len(batch), ctx.n_items), bool)
        for i, h in enumerate(batch.hist):
            excluded[i, h] = True
        cands, x = score_batch(ctx, batch, params.candidates, excluded, search, names, neighbours)
        for i in range(len(batch)):
            valid = cands.positions[i] >= 0
            y = np.isin(cands.positions[i][valid], labels[users[a + i]]).astype(np.float32)
            if y.any():
                neg = np.flatnonzero(y == 0)
                if len(neg) > params.max_negatives:
                    neg = np.sort(rng.choice(neg, params.max_negatives, replace=False))
                take = np.sort(np.concatenate([np.flatnonzero(y > 0), neg]))
                xs.append(x[i][valid][take])
                ys.append(y[take])
                groups.append(len(take))
    x_all = np.concatenate(xs) if xs else np.zeros((0, len(names)), np.float32)
    y_all = np.concatenate(ys) if ys else np.zeros(0, np.float32)
    meta = {"as_of": str(as_of), "holdout": _resolve(params.holdout, events), "train_users": int(len(users)),
            "users_with_positive_candidate": len(groups), "drop_groups": list(params.drop_groups)}
    log(f"learned ranker: {len(groups):,} groups with a positive, {len(y_all):,} rows")
    return train_model(x_all, y_all, np.asarray(groups, np.int64), names, params.candidates, params.lgb, meta)


def train_for_index(
    folder: Path, products: pd.DataFrame, events: pd.DataFrame, item_vectors: np.ndarray,
    signal_params: SignalParams = SignalParams(), log: Callable[[str], None] = lambda _m: None,
) -> LearnedModel:
    """Build hook: train on the build's events (already cut at as_of) and save into the staging folder."""
    model = fit_ranker(products, events, item_vectors, TrainParams(), signal_params, log)
    model.save(folder)
    return model


def slice_features(products: pd.DataFrame, events: pd.DataFrame, item_vectors: np.ndarray, as_of: pd.Timestamp,
                   signal_params: SignalParams = SignalParams()) -> tuple[ItemFeatures, np.ndarray]:
    """`ItemFeatures` of one slice of events (the same computation the build stores) and the events'
    catalogue positions."""
    ev = event_features(events, IdMap.of(products[S.PRODUCT_ID]))
    return item_features(products, events, ev, item_vectors, as_of, signal_params), ev.item_pos
