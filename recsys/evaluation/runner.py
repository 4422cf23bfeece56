"""The offline evaluation protocol: split, tune on validation, refit, rank the whole catalogue, report.

Per scorer: every parameter dict of its grid is fitted on train and ranked for the validation users
(their train items excluded); the best by validation NDCG@10 is refitted on train + validation and
ranked for the test users over the full catalogue, train + validation items excluded. Score ties are
broken by a seeded random permutation of the catalogue (``EvalData.tie_rank``, seed ``EvalConfig.seed``),
never by product id or catalogue position; ``config["tie_break"]`` in the report says so. A scorer that
raises a ``RecsysError`` is reported as skipped.

Order-artifact slice. Under ``leave-one-out`` the test item is the user's last event in sequence order.
If the source ordered same-time events by product id, "the next item sorts above the previous one" is
learnable without any behaviour. Every method is therefore also reported on the users whose test
item's product id sorts *below* (string order) the id of their last train/validation item
(``slices["target_id_below_previous"]``), where that artifact cannot help, and on the complement with
the id above (``slices["target_id_above_previous"]``).
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from recsys.data import schema as S
from recsys.data.splits import (
    SPLIT_SCHEMES,
    Split,
    SplitScheme,
    previous_items,
    split_events,
    target_lists,
    train_valid_events,
)
from recsys.errors import ConfigError, DataValidationError, Problem, RecsysError
from recsys.evaluation import metrics as M
from recsys.evaluation.data import EvalData, build_eval_data
from recsys.evaluation.ranking import DEFAULT_BATCH, rank_in_batches
from recsys.evaluation.report import write_report
from recsys.evaluation.sampled import sampled_metrics, sampled_target_ranks
from recsys.evaluation.scorer import Scorer
from recsys.evaluation.summary import PRIMARY_K, UserSlice, summarize_ranking

__all__ = [
    "EvalConfig",
    "evaluate_methods",
    "write_report",
    "dataset_summary",
    "order_slices",
    "tie_break_description",
    "BELOW_PREVIOUS",
    "ABOVE_PREVIOUS",
]


@dataclass(frozen=True)
class EvalConfig:
    """Protocol options. ``sampled_negatives`` = 0 turns sampled evaluation off."""

    ks: tuple[int, ...] = (10, 20, 50)
    scheme: SplitScheme = "last-day"
    cutoff: pd.Timestamp | None = None
    collapse_variant_copies: bool = False
    sampled_negatives: int = 0
    seed: int = 0
    n_boot: int = 1000
    min_train_events: int = 1
    batch_size: int = DEFAULT_BATCH

    def __post_init__(self) -> None:
        ks = tuple(self.ks)
        if not ks or any(not isinstance(k, int) or k < 1 for k in ks) or len(set(ks)) != len(ks):
            raise ConfigError(f"ks must be distinct positive ints, got {self.ks!r}")
        object.__setattr__(self, "ks", tuple(sorted(ks)))
        if self.scheme not in SPLIT_SCHEMES:
            raise ConfigError(f"unknown scheme {self.scheme!r}; expected one of {', '.join(SPLIT_SCHEMES)}")
        for name in ("sampled_negatives", "n_boot"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.cutoff is not None and self.scheme != "global-time":
            raise ConfigError(f"cutoff only applies to scheme='global-time', not {self.scheme!r}; drop it")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ks"] = list(self.ks)
        d["cutoff"] = None if self.cutoff is None else str(self.cutoff)
        d["tuning"] = f"validation ndcg@{PRIMARY_K}"
        d["ranking"] = "full catalogue, history items excluded, ties by seeded random catalogue order"
        d["tie_break"] = tie_break_description(self.seed)
        return d


def tie_break_description(seed: int) -> dict[str, Any]:
    """How equal scores are ordered in every ranking of the run (stored in the report's config)."""
    return {
        "method": "seeded random permutation of the catalogue",
        "seed": int(seed),
        "by_product_id_or_position": False,
        "note": "equal scores rank in the order of numpy.random.default_rng(seed).permutation(n_items); "
                "ItemKNN neighbours and sampled negatives use the same order; methods that return the "
                "production recommender's top k (blend, blend_tuned, multisource, ltr) order ties inside "
                "their own candidate selection before the harness ranks what they return",
    }


BELOW_PREVIOUS = "target_id_below_previous"
ABOVE_PREVIOUS = "target_id_above_previous"


def order_slices(split: Split, history: pd.DataFrame) -> dict[str, UserSlice]:
    """The order-artifact slices for a leave-one-out split (empty for other schemes), over ``test_users``.

    ``history`` is the train + validation events in sequence order (``train_valid_events``). A user with
    one test target belongs to "below" when the target's product id sorts below their last history
    item's id (string comparison), to "above" when it sorts above; equal ids and users with several
    targets belong to neither.
    """
    if split.report.get("scheme") != "leave-one-out":
        return {}
    prev = previous_items(history, split.test_users)
    targets = target_lists(split.test, split.test_users)
    below = np.zeros(len(prev), dtype=bool)
    above = np.zeros(len(prev), dtype=bool)
    for i, (p, t) in enumerate(zip(prev, targets, strict=True)):
        if p is None or len(t) != 1:
            continue
        below[i], above[i] = str(t[0]) < p, str(t[0]) > p
    return {
        BELOW_PREVIOUS: UserSlice(below, "users whose test item's product_id sorts below (string order) the "
                                         "id of their last train/validation item: free of the id-order artifact"),
        ABOVE_PREVIOUS: UserSlice(above, "users whose test item's product_id sorts above the id of their last "
                                         "train/validation item"),
    }


def dataset_summary(products: pd.DataFrame, events: pd.DataFrame) -> dict[str, Any]:
    """Counts and a content fingerprint (ids and timestamps) of the evaluated data."""
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(products[[S.PRODUCT_ID]], index=False).to_numpy().tobytes())
    cols = [S.USER_ID, S.PRODUCT_ID, S.EVENT_TYPE, S.TIMESTAMP]
    present = [c for c in cols if c in events.columns]
    h.update(pd.util.hash_pandas_object(events[present], index=False).to_numpy().tobytes())
    return {
        "fingerprint": h.hexdigest()[:16],
        "products": int(len(products)),
        "events": int(len(events)),
        "users": int(events[S.USER_ID].nunique()),
        "interacted_items": int(events[S.PRODUCT_ID].dropna().nunique()),
    }


def _positions(data: EvalData, targets: list[np.ndarray]) -> list[np.ndarray]:
    if not targets:
        return []
    flat = np.concatenate(targets) if targets else np.zeros(0, dtype=object)
    pos = data.item_positions(flat)
    if (pos < 0).any():
        example = str(flat[pos < 0][0])
        raise DataValidationError(
            [Problem("events", S.PRODUCT_ID, "target products are missing from the catalogue", example)]
        )
    return np.split(pos.astype(np.int64), np.cumsum([len(t) for t in targets])[:-1])


def _tune(
    scorer: Scorer, data: EvalData, rows: np.ndarray, targets: list[np.ndarray], cfg: EvalConfig, bar: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The grid entry with the best validation NDCG@10 (first wins ties) and every trial's value."""
    search = getattr(scorer, "search", None)
    if callable(search) and len(rows):
        # Scorers with their own search (e.g. coordinate ascent for the blend) tune on validation here.
        params, trials = search(data, rows, targets)
        bar.set_postfix_str(f"{scorer.name}: {len(trials)} tuning trials")
        return dict(params), trials
    grid = scorer.param_grid()
    if not grid:
        raise ConfigError(f"{scorer.name}.param_grid() is empty; return [{{}}] when there is nothing to tune")
    if len(grid) == 1 or len(rows) == 0:
        return dict(grid[0]), []
    n_t = M.target_counts(targets)
    trials = []
    for params in grid:
        scorer.fit(data, dict(params))
        ranked = rank_in_batches(scorer.score, rows, data.matrix, PRIMARY_K, data.tie_rank, cfg.batch_size)
        value = float(np.nanmean(M.ndcg_at_k(M.hit_matrix(ranked, targets), n_t, PRIMARY_K)))
        trials.append({"params": dict(params), f"valid_ndcg@{PRIMARY_K}": value})
        bar.set_postfix_str(f"{scorer.name} {params} → {value:.4f}")
    best = max(range(len(trials)), key=lambda i: (trials[i][f"valid_ndcg@{PRIMARY_K}"], -i))
    return dict(grid[best]), trials


def _evaluate_one(
    scorer: Scorer, train: EvalData, full: EvalData, rows: dict[str, np.ndarray],
    targets: dict[str, list[np.ndarray]], cfg: EvalConfig, bar: Any,
    user_slices: Mapping[str, UserSlice] | None = None,
) -> dict[str, Any]:
    t0 = time.perf_counter()
    params, trials = _tune(scorer, train, rows["valid"], targets["valid"], cfg, bar)
    t1 = time.perf_counter()
    scorer.fit(full, dict(params))
    t2 = time.perf_counter()
    sampled: list[tuple[np.ndarray, np.ndarray]] = []
    rng = np.random.default_rng([cfg.seed, 1])

    def on_batch(pos: np.ndarray, batch_rows: np.ndarray, scores: np.ndarray) -> None:
        if cfg.sampled_negatives:
            owner, rank = sampled_target_ranks(
                scores, full.matrix[batch_rows], [targets["test"][p] for p in pos],
                cfg.sampled_negatives, full.tie_rank, rng,
            )
            sampled.append((pos[owner], rank))

    ranked = rank_in_batches(
        scorer.score, rows["test"], full.matrix, max(cfg.ks), full.tie_rank, cfg.batch_size, on_batch
    )
    t3 = time.perf_counter()
    result = summarize_ranking(
        ranked, targets["test"], ks=cfg.ks, n_items=full.n_items,
        history_len=np.diff(full.matrix.indptr)[rows["test"]],
        cold_items=M.cold_item_mask(full.matrix), n_boot=cfg.n_boot, seed=cfg.seed, user_slices=user_slices,
    )
    if cfg.sampled_negatives and sampled:
        owner = np.concatenate([o for o, _ in sampled])
        rank = np.concatenate([r for _, r in sampled])
        for key, per_user in sampled_metrics(owner, rank, len(rows["test"]), cfg.ks).items():
            result[f"sampled{cfg.sampled_negatives}_{key}"] = float(np.nanmean(per_user))
    result.update(params=params, tuning=trials)
    result.update(tune_s=round(t1 - t0, 3), fit_s=round(t2 - t1, 3), score_s=round(t3 - t2, 3))
    return result


def valid_targets(train: EvalData, split: Split) -> tuple[np.ndarray, list[np.ndarray]]:
    """Rows of the validation users in `train` and their target catalogue positions."""
    return train.user_rows(split.valid_users), _positions(train, target_lists(split.valid, split.valid_users))


def evaluate_methods(
    products: pd.DataFrame,
    events: pd.DataFrame,
    scorers: Mapping[str, Scorer],
    config: EvalConfig = EvalConfig(),
    progress: bool = False,
) -> dict[str, Any]:
    """Run the protocol for every scorer; returns ``{"dataset", "config", "split", "methods"}``."""
    split = split_events(
        events, config.scheme, cutoff=config.cutoff,
        collapse_variant_copies=config.collapse_variant_copies, min_train_events=config.min_train_events,
    )
    if len(split.test_users) == 0:
        raise DataValidationError([Problem(
            "events", S.USER_ID,
            f"no user has both a test target and a history under scheme {config.scheme!r}; "
            "use more data, another scheme or a lower min_train_events",
        )])
    train = build_eval_data(products, split.train, users=split.valid_users, seed=config.seed)
    history = train_valid_events(split)
    full = build_eval_data(products, history, users=split.test_users, seed=config.seed)
    user_slices = order_slices(split, history)
    rows = {"valid": train.user_rows(split.valid_users), "test": full.user_rows(split.test_users)}
    targets = {
        "valid": _positions(train, target_lists(split.valid, split.valid_users)),
        "test": _positions(full, target_lists(split.test, split.test_users)),
    }
    methods: dict[str, Any] = {}
    bar = tqdm(scorers.items(), desc="methods", file=sys.stderr, disable=not progress)
    for name, scorer in bar:
        bar.set_description(name)
        try:
            methods[name] = _evaluate_one(scorer, train, full, rows, targets, config, bar, user_slices)
        except RecsysError as exc:
            methods[name] = {"skipped": True, "reason": f"{type(exc).__name__}: {exc}"}
    bar.close()
    return {
        "dataset": dataset_summary(products, events),
        "config": config.to_dict(),
        "split": split.report,
        "methods": methods,
    }
