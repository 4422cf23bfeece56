"""Training examples for the learned ranker from every step of each history, and the build-time trainer.

Steps. A user's step is one interaction (order-only timestamps) or one interaction day (real
timestamps). For every user and every step t ≥ 1 among their last `max_steps` steps, the item(s) of
step t are the label and everything strictly before step t is the input: a history a → b → c yields
two query groups, labelled b (input a) and c (input a, b). Callers pass only events before their
evaluation cut: nothing here looks at anything else.

Item features per step depth. The item-level features (popularity, co-occurrence, transitions, EASE,
item age) of a group at depth j (j = 0 for each user's last step, 1 for the one before, …) are computed
on the slice that drops every user's last j + 1 steps, i.e. the data as it stood before that step for
the user being ranked. There is one such slice per depth, not per group, so this costs `max_steps`
item-feature builds (one EASE solve each), which is affordable up to catalogues of tens of thousands of
items. The cheaper alternative, one build on the events before the last step and reusing it for the
earlier steps, was rejected: the label of an earlier step would then sit in the co-occurrence and EASE
matrices next to the very history it is ranked with, and on small data (a few hundred users) that
self-co-occurrence is large enough to teach the model to over-trust the collaborative features.

Early stopping. The depth-0 groups (each user's most recent step) are the validation set; LambdaMART is
trained on the earlier steps with early stopping on the validation NDCG@`eval_at`, and the best iteration
count is kept. With `refit` the final model is trained on all groups (the validation groups included)
for that many iterations. The meta records the best iteration, the validation NDCG and the group counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from recsys.data import schema as S
from recsys.errors import ConfigError
from recsys.features.ease import MAX_DENSE_ITEMS
from recsys.features.events import EventFeatures, event_features, interaction_mask
from recsys.features.ids import IdMap
from recsys.features.items import ItemFeatures, item_features, tiebreak_ranks
from recsys.features.sequences import ordered_histories, user_batch
from recsys.features.signals import SignalParams
from recsys.ranking.ltr.candidates import CandidateParams, item_neighbours
from recsys.ranking.ltr.features import feature_names
from recsys.ranking.ltr.model import LearnedModel, LGBParams, Prior, train_model
from recsys.ranking.ltr.scoring import exact_scoring_search, score_batch

__all__ = ["Holdout", "TrainParams", "StepSlice", "holdout_last", "history_steps", "step_slices", "fit_ranker",
           "train_for_index", "slice_features", "group_ndcg", "affordable_steps"]

Holdout = Literal["auto", "event", "day"]
#: Extra neighbours per item in the lookup table, so excluded history items still leave enough.
NEIGHBOUR_SLACK = 50


@dataclass(frozen=True)
class TrainParams:
    candidates: CandidateParams = CandidateParams()
    lgb: LGBParams = LGBParams()
    holdout: Holdout = "auto"
    #: Users sampled for training rows (seeded); every user's events still feed the item features.
    max_users: int = 10_000
    #: Negatives kept per training group (seeded sample; all positives are kept): bounds the training rows.
    #: When the groups are few, more are kept, up to `max_rows` rows in all (small data gains the most
    #: from the hard negatives a small random sample would leave out).
    max_negatives: int = 50
    max_rows: int = 1_000_000
    drop_groups: tuple[str, ...] = ()
    batch_size: int = 256
    seed: int = 0
    #: Label steps per user, most recent first (1 = only the last step).
    max_steps: int = 5
    #: Each step depth costs one dense EASE solve over the interacted items (about n³/3 flops for n
    #: items, capped at `recsys.features.ease.MAX_DENSE_ITEMS`); the depths used are cut so that
    #: depths × n³ stays within this budget: all 5 up to 12,600 items, 1 at the 20,000-item cap (about
    #: 100 s a solve on 2 cores). Catalogues that large have users enough for one step to fill the groups.
    ease_cube_budget: float = 1e13
    #: Early stopping on the most recent step's groups (needs `min_valid_groups` of them and earlier steps).
    early_stopping: bool = True
    min_valid_groups: int = 20
    #: Negatives kept per validation group while early stopping (more than for training: a truer NDCG).
    valid_negatives: int = 200
    #: After early stopping, retrain on all groups for the best iteration count.
    refit: bool = True
    #: The source whose rank the trees are boosted from (`recsys.ranking.ltr.model.Prior`): "auto" picks
    #: the `rank_<source>` feature with the best NDCG on the validation groups, "none" boosts from zero.
    prior: str = "auto"
    prior_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.max_steps < 1 or self.max_users < 1 or self.max_negatives < 1 or self.valid_negatives < 1:
            raise ConfigError(f"max_steps, max_users, max_negatives and valid_negatives must be >= 1, got {self}")


def _resolve(holdout: Holdout, events: pd.DataFrame) -> Literal["event", "day"]:
    if holdout != "auto":
        return holdout
    ts = events[S.TIMESTAMP]
    return "day" if len(ts) and (ts.max() - ts.min()) > pd.Timedelta(days=1) else "event"


def _step_key(events: pd.DataFrame, by: Literal["event", "day"]) -> np.ndarray:
    """Per event row: its step key, comparable within a user (a day number, or the row's place in the
    user's (timestamp, row) order)."""
    if by == "day":
        return (events[S.TIMESTAMP].dt.floor("D") - pd.Timestamp(0, tz="UTC")).dt.days.to_numpy(np.int64)
    users = pd.factorize(events[S.USER_ID])[0]
    ts = events[S.TIMESTAMP].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype(np.int64)
    order = np.lexsort((np.arange(len(events)), ts, users))
    key = np.empty(len(events), np.int64)
    key[order] = np.arange(len(events))
    return key


def _label_rows(events: pd.DataFrame, item_pos: np.ndarray) -> np.ndarray:
    """Rows that can be a label: interactions with a catalogue item (any known item without event types)."""
    if S.EVENT_TYPE in events.columns:
        return interaction_mask(events, item_pos)
    return item_pos >= 0


def holdout_last(events: pd.DataFrame, item_pos: np.ndarray,
                 holdout: Holdout = "auto") -> tuple[np.ndarray, np.ndarray]:
    """(input mask, label mask) over event rows: per user, the last step is the label (see module doc)."""
    key = _step_key(events, _resolve(holdout, events))
    users = pd.factorize(events[S.USER_ID])[0]
    inter = item_pos >= 0
    last = pd.Series(np.where(inter, key, np.iinfo(np.int64).min)).groupby(users).transform("max").to_numpy()
    return key < last, inter & (key == last)


@dataclass(frozen=True)
class Steps:
    """The label steps of a set of events: one row per (user, step) with a label, oldest depth last."""

    key: np.ndarray  # per event row: its step key
    user: np.ndarray  # per event row: user code (index into `users`)
    users: np.ndarray  # user ids by code
    labels: pd.DataFrame  # columns u (user code), k (step key), depth (0 = the user's last step), t (index)


def history_steps(events: pd.DataFrame, item_pos: np.ndarray, holdout: Holdout = "auto") -> Steps:
    """Every user's steps that hold a label row, numbered from the start (`t`) and from the end (`depth`)."""
    by = _resolve(holdout, events)
    key = _step_key(events, by)
    codes, users = pd.factorize(events[S.USER_ID].to_numpy(dtype=object))
    lab = _label_rows(events, item_pos)
    frame = (pd.DataFrame({"u": codes[lab], "k": key[lab]}).drop_duplicates()
             .sort_values(["u", "k"], kind="stable").reset_index(drop=True))
    grouped = frame.groupby("u", sort=False)
    frame["t"] = grouped.cumcount().to_numpy(np.int64)
    frame["depth"] = grouped.cumcount(ascending=False).to_numpy(np.int64)
    return Steps(key=key, user=codes.astype(np.int64), users=np.asarray(users, dtype=object), labels=frame)


def _sample_users(users: np.ndarray, max_users: int, seed: int) -> np.ndarray:
    if len(users) <= max_users:
        return users
    return np.sort(np.random.default_rng(seed).choice(users, size=max_users, replace=False))


@dataclass
class _Rows:
    """Training rows of one set of query groups (rows contiguous per group)."""

    x: list[np.ndarray]
    y: list[np.ndarray]
    groups: list[int]

    @classmethod
    def empty(cls) -> _Rows:
        return cls([], [], [])

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x.append(x)
        self.y.append(y)
        self.groups.append(len(y))

    def arrays(self, n_features: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = np.concatenate(self.x) if self.x else np.zeros((0, n_features), np.float32)
        y = np.concatenate(self.y) if self.y else np.zeros(0, np.float32)
        return x, y, np.asarray(self.groups, np.int64)


def _take(y: np.ndarray, keep_neg: int, rng: np.random.Generator) -> np.ndarray:
    """Row indices: every positive and a seeded sample of at most `keep_neg` negatives, in row order."""
    neg = np.flatnonzero(y == 0)
    if len(neg) > keep_neg:
        neg = np.sort(rng.choice(neg, keep_neg, replace=False))
    return np.sort(np.concatenate([np.flatnonzero(y > 0), neg]))


def group_ndcg(score: np.ndarray, y: np.ndarray, groups: np.ndarray, k: int) -> float:
    """Mean NDCG@k over query groups (rows contiguous per group); equal scores rank positives last."""
    out, a = [], 0
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    for n in groups.tolist():
        s, t = score[a : a + n], y[a : a + n]
        a += n
        top = np.lexsort((t, -np.nan_to_num(s, nan=-np.inf)))[:k]
        ideal = np.sort(t)[::-1][:k]
        idcg = float(ideal @ discount[: len(ideal)])
        out.append(float(t[top] @ discount[: len(top)]) / idcg if idcg > 0 else 0.0)
    return float(np.mean(out)) if out else 0.0


def _choose_prior(params: TrainParams, names: tuple[str, ...], rows: tuple[np.ndarray, np.ndarray, np.ndarray],
                  k: int) -> tuple[Prior | None, dict[str, float]]:
    """The prior of `params` (see `TrainParams.prior`) and, for "auto", each candidate's NDCG@k on `rows`."""
    if params.prior == "none":
        return None, {}
    options = [f"rank_{s}" for s in params.candidates.sources if f"rank_{s}" in names]
    if params.prior != "auto":
        if params.prior not in names:
            raise ConfigError(f"prior {params.prior!r} is not one of the model's features")
        return Prior(params.prior, params.prior_weight), {}
    if not options:
        return None, {}
    x, y, g = rows
    scores = {f: group_ndcg(Prior(f).score(x, names), y, g, k) for f in options}
    best = max(options, key=lambda f: (scores[f], -options.index(f)))
    return Prior(best, params.prior_weight), scores


@dataclass(frozen=True)
class StepSlice:
    """The query groups at one step depth and the events their features may use."""

    depth: int  # 0 = each user's last step, 1 = the one before, …
    rows: np.ndarray  # bool over event rows: every user's events strictly before their step at this depth
    users: np.ndarray  # user ids with a group here (each has a step at this depth and steps before it)
    labels: list[np.ndarray]  # per user: the catalogue positions of that step's items (distinct, in event order)


def affordable_steps(events: pd.DataFrame, item_pos: np.ndarray, params: TrainParams = TrainParams()) -> int:
    """The step depths trained: `max_steps`, cut to `ease_cube_budget` (see `TrainParams`), at least 1."""
    n = min(len(np.unique(item_pos[_label_rows(events, item_pos)])), MAX_DENSE_ITEMS)
    return int(max(1, min(params.max_steps, params.ease_cube_budget // max(1, n) ** 3)))


def step_slices(events: pd.DataFrame, item_pos: np.ndarray, params: TrainParams = TrainParams()) -> list[StepSlice]:
    """The training groups of `events`, by depth (see the module docstring); users sampled by `max_users`."""
    steps = history_steps(events, item_pos, params.holdout)
    lab = steps.labels
    depths = affordable_steps(events, item_pos, params)
    groups_at = lab[(lab["t"] >= 1) & (lab["depth"] < depths)]
    sampled = _sample_users(np.unique(groups_at["u"].to_numpy()), params.max_users, params.seed)
    groups_at = groups_at[groups_at["u"].isin(sampled)]
    label_rows = _label_rows(events, item_pos)
    out = []
    for depth in sorted(set(groups_at["depth"].tolist())):
        here = groups_at[groups_at["depth"] == depth]
        at_depth = lab[lab["depth"] == depth]
        cut = np.full(len(steps.users), np.iinfo(np.int64).min, np.int64)  # users without this step: nothing
        cut[at_depth["u"].to_numpy()] = at_depth["k"].to_numpy()
        row_cut = cut[steps.user]
        at_step = label_rows & (steps.key == row_cut)
        labels = pd.Series(item_pos[at_step]).groupby(steps.user[at_step], sort=False).unique()
        codes = here["u"].to_numpy()
        out.append(StepSlice(int(depth), steps.key < row_cut, steps.users[codes],
                             [np.asarray(labels[c], np.int64) for c in codes.tolist()]))
    return out


def fit_ranker(
    products: pd.DataFrame, events: pd.DataFrame, item_vectors: np.ndarray, params: TrainParams = TrainParams(),
    signal_params: SignalParams = SignalParams(), log: Callable[[str], None] = lambda _m: None,
) -> LearnedModel:
    """Train on `events` (all strictly before the caller's cut): each of a user's last `max_steps` steps
    is a query group labelled with that step's items (see the module docstring)."""
    ev_all = event_features(events, IdMap.of(products[S.PRODUCT_ID]))  # sentiment once for every slice
    item_pos = ev_all.item_pos
    slices = step_slices(events, item_pos, params)
    if not slices:
        raise ConfigError("too little data to train the learned ranker: no user has events before their last "
                          "step; use the weighted blend (ranker 'blend')")
    names = feature_names(params.drop_groups)
    ranked = pd.Index(events[S.USER_ID]).isin(np.concatenate([sl.users for sl in slices]))
    looked_up = item_pos[ranked & (item_pos >= 0)]  # the only items a recent-item lookup can start from
    neighbours = item_neighbours(np.ascontiguousarray(item_vectors, np.float32),
                                 params.candidates.recent + NEIGHBOUR_SLACK, tiebreak=tiebreak_ranks(len(products)),
                                 rows=looked_up)
    n_groups = sum(len(sl.users) for sl in slices)
    n_neg = max(params.max_negatives, params.max_rows // n_groups)
    rng = np.random.default_rng(params.seed)
    train, valid_full, valid_train = _Rows.empty(), _Rows.empty(), _Rows.empty()
    as_of_by_depth: dict[int, str] = {}
    users_with_positive: set[object] = set()
    for sl in slices:
        slice_ev = events[sl.rows].reset_index(drop=True)
        as_of = slice_ev[S.TIMESTAMP].max()
        as_of_by_depth[sl.depth] = str(as_of)
        ev = EventFeatures(item_pos[sl.rows], ev_all.sentiment[sl.rows])
        ctx = item_features(products, slice_ev, ev, item_vectors, as_of, signal_params)
        hists = ordered_histories(slice_ev, ev.item_pos, sl.users)
        keep = [i for i, h in enumerate(hists) if len(h)]
        log(f"learned ranker: depth {sl.depth}: {len(keep):,} groups, input as of {as_of}")
        search = exact_scoring_search(ctx)
        for a in range(0, len(keep), params.batch_size):
            members = keep[a : a + params.batch_size]
            batch = user_batch(ctx.vectors, [hists[i] for i in members])
            excluded = np.zeros((len(batch), ctx.n_items), bool)
            for i, h in enumerate(batch.hist):
                excluded[i, h] = True
            cands, x = score_batch(ctx, batch, params.candidates, excluded, search, names, neighbours)
            for i, member in enumerate(members):
                valid = cands.positions[i] >= 0
                y = np.isin(cands.positions[i][valid], sl.labels[member]).astype(np.float32)
                if not y.any():
                    continue
                users_with_positive.add(sl.users[member])
                xi = x[i][valid]
                take = _take(y, n_neg, rng)
                if sl.depth == 0:
                    valid_train.add(xi[take], y[take])
                    full = _take(y, max(params.valid_negatives, n_neg), rng)
                    valid_full.add(xi[full], y[full])
                else:
                    train.add(xi[take], y[take])
    n_features = len(names)
    meta: dict[str, Any] = {
        "as_of": as_of_by_depth.get(0, max(as_of_by_depth.values(), default="")),
        "as_of_by_depth": as_of_by_depth, "holdout": _resolve(params.holdout, events),
        "train_users": len({u for sl in slices for u in sl.users.tolist()}),
        "users_with_positive_candidate": len(users_with_positive), "max_steps": params.max_steps,
        "steps_used": len(slices),
        "negatives_per_group": int(n_neg), "groups_by_depth": {sl.depth: len(sl.users) for sl in slices},
        "drop_groups": list(params.drop_groups),
    }
    x_tr, y_tr, g_tr = train.arrays(n_features)
    x_va, y_va, g_va = valid_full.arrays(n_features)
    stop = (params.early_stopping and len(g_va) >= params.min_valid_groups and len(g_tr) > 0)
    x_vt, y_vt, g_vt = valid_train.arrays(n_features)
    x_all, y_all = np.concatenate([x_tr, x_vt]), np.concatenate([y_tr, y_vt])
    g_all = np.concatenate([g_tr, g_vt])
    log(f"learned ranker: {len(g_all):,} groups with a positive ({len(g_vt):,} most recent), {len(y_all):,} rows")
    prior, prior_ndcg = _choose_prior(params, names, (x_va, y_va, g_va) if len(g_va) else (x_all, y_all, g_all),
                                      params.lgb.eval_at)
    meta["prior_choice"] = {"metric": f"ndcg@{params.lgb.eval_at}", "on": "validation" if len(g_va) else "training",
                            "ndcg": prior_ndcg} if prior_ndcg else None
    if prior:
        log(f"learned ranker: boosting from {prior.feature}")
    if not stop:
        meta["early_stopping"] = None
        return train_model(x_all, y_all, g_all, names, params.candidates, params.lgb, meta, prior=prior)
    return train_model(x_tr, y_tr, g_tr, names, params.candidates, params.lgb, meta, prior=prior,
                       valid=(x_va, y_va, g_va), refit=(x_all, y_all, g_all) if params.refit else None)


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
