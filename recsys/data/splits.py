"""Train / validation / test splits of an event log for offline evaluation.

Every scheme assigns each event a *period* from the number of later "steps" the user still has:
0 → test, 1 → validation, more → train. A step is a distinct interaction day (``last-day``), an
interaction event (``leave-one-out``) or a global cutoff (``global-time``). Events without a product
(searches) follow the same rule, so a query typed before the last purchase stays in that user's history
but never becomes a target.

A user is evaluated on test when their history before the test period (train + validation) holds at
least ``min_train_events`` interactions; on validation when their train part does. Users who fall short
are excluded and counted in ``Split.report``.

Order-only data. Some public sequence datasets carry only an order, not a time: the timestamps are the
positions 0, 1, 2, … seconds after the epoch, so every event falls on one day
(``timestamps_order_only``). Only ``leave-one-out`` means anything there. The order itself can carry an
artifact: if the source sorted same-day events by product id, a user's next item tends to sort above the
previous one. ``Split.report["order"]`` states the share of consecutive interaction pairs whose product
id ascends (about 0.5 when the order is behavioural alone), and ``previous_items`` gives what the
evaluation needs to report the artifact-free slice (targets whose id sorts below the previous item's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from recsys.data import schema as S
from recsys.errors import ConfigError, DataValidationError, Problem

__all__ = [
    "SplitScheme",
    "SPLIT_SCHEMES",
    "Split",
    "split_events",
    "train_valid_events",
    "drop_variant_copies",
    "interactions",
    "target_lists",
    "previous_items",
    "timestamps_order_only",
    "ascending_id_share",
]

SplitScheme = Literal["last-day", "leave-one-out", "global-time"]
SPLIT_SCHEMES: tuple[str, ...] = get_args(SplitScheme)
DEFAULT_QUANTILE = 0.9
_TEST, _VALID, _TRAIN = 0, 1, 2


@dataclass(frozen=True)
class Split:
    """Three event frames (canonical columns) and the users each phase evaluates.

    ``valid`` holds every validation-period event (they are history when refitting for test);
    ``valid_users`` are the users with validation targets *and* a train history. ``test`` holds only the
    test events of ``test_users``.
    """

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    valid_users: np.ndarray
    test_users: np.ndarray
    report: dict[str, Any] = field(default_factory=dict)


def interactions(events: pd.DataFrame) -> pd.DataFrame:
    """The events that name a product (search events without one are history text only)."""
    return events[events[S.PRODUCT_ID].notna()]


def target_lists(frame: pd.DataFrame, users: np.ndarray) -> list[np.ndarray]:
    """Distinct product ids per user, in the order of ``users`` (empty array for a user without any)."""
    inter = interactions(frame)[[S.USER_ID, S.PRODUCT_ID]].drop_duplicates()
    groups = inter.groupby(S.USER_ID, sort=False)[S.PRODUCT_ID].unique()
    empty = np.array([], dtype=object)
    return [np.asarray(groups.get(u, empty), dtype=object) for u in users]


def previous_items(history: pd.DataFrame, users: np.ndarray) -> np.ndarray:
    """Per user (order of ``users``): the product id of their last interaction in ``history``'s row order.

    ``history`` must be sorted like ``train_valid_events`` output (by user, then sequence); users without
    an interaction get None.
    """
    inter = interactions(history)
    last = inter.groupby(S.USER_ID, sort=False)[S.PRODUCT_ID].last()
    found = last.reindex(pd.Index(np.asarray(users, dtype=object))).to_numpy(dtype=object)
    return np.array([v if isinstance(v, str) else None for v in found], dtype=object)


def timestamps_order_only(events: pd.DataFrame) -> bool:
    """True when the timestamps carry no real time: more than one interaction and all on one UTC day."""
    ts = interactions(events)[S.TIMESTAMP]
    if len(ts) < 2:
        return False
    return bool(ts.min().floor("D") == ts.max().floor("D"))


def ascending_id_share(events: pd.DataFrame) -> float:
    """Among consecutive interaction pairs of the same user with different products, the share whose
    second product id sorts above the first (string order); NaN when there is no such pair.

    ``events`` must be in sequence order (sorted by user, then time). About 0.5 when the order within a
    sequence is unrelated to ids; well above it when same-time events were ordered by id somewhere.
    """
    inter = interactions(events)
    users = inter[S.USER_ID].to_numpy(dtype=object)
    ids = inter[S.PRODUCT_ID].astype(str).to_numpy(dtype=object)
    if len(ids) < 2:
        return float("nan")
    same_user = users[1:] == users[:-1]
    differ = ids[1:] != ids[:-1]
    pairs = same_user & differ
    if not pairs.any():
        return float("nan")
    return float((ids[1:][pairs] > ids[:-1][pairs]).mean())


def drop_variant_copies(events: pd.DataFrame) -> pd.DataFrame:
    """Keep the first event per (user, UTC day, non-empty text); events without text are all kept.

    The Amazon 2018 release copies one review onto every variant of a listing, which makes the
    other variants trivially predictable.
    """
    text = events[S.TEXT].fillna("").astype(str)
    has_text = text.str.len() > 0
    key = pd.DataFrame(
        {"u": events[S.USER_ID], "d": events[S.TIMESTAMP].dt.floor("D"), "t": text}, index=events.index
    )
    dup = key.duplicated(keep="first") & has_text
    return events[~dup.to_numpy()]


def _check(events: pd.DataFrame) -> None:
    missing = [c for c in (S.USER_ID, S.PRODUCT_ID, S.TIMESTAMP) if c not in events.columns]
    if missing:
        raise DataValidationError(
            [Problem("events", c, "column required for splitting is missing") for c in missing]
        )
    if not isinstance(events[S.TIMESTAMP].dtype, pd.DatetimeTZDtype):
        raise DataValidationError(
            [Problem("events", S.TIMESTAMP, f"expected a UTC datetime column, found {events[S.TIMESTAMP].dtype}")]
        )


def _steps_after(user_codes: np.ndarray, keys: np.ndarray, is_step: np.ndarray) -> np.ndarray:
    """Per row: how many distinct step keys of the same user lie strictly after the row's key."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    key_rank = pd.factorize(keys, sort=True)[0].astype(np.int64)
    width = int(key_rank.max()) + 2
    users = user_codes.astype(np.int64)
    combined = users * width + key_rank
    steps = np.unique(combined[is_step])
    user_start = np.searchsorted(steps, users * width, side="left")
    user_end = np.searchsorted(steps, (users + 1) * width, side="left")
    at_or_before = np.searchsorted(steps, combined, side="right")
    return (user_end - np.maximum(at_or_before, user_start)).astype(np.int64)


def _periods(events: pd.DataFrame, scheme: str, cutoff: pd.Timestamp | None) -> tuple[np.ndarray, dict]:
    is_step = events[S.PRODUCT_ID].notna().to_numpy()
    users = pd.factorize(events[S.USER_ID])[0]
    ts = events[S.TIMESTAMP]
    if scheme == "global-time":
        inter_ts = ts[is_step]
        if inter_ts.empty:
            return np.full(len(events), _TRAIN), {}
        test_cut = _as_utc(cutoff) if cutoff is not None else inter_ts.quantile(DEFAULT_QUANTILE)
        before = inter_ts[inter_ts <= test_cut]
        valid_cut = before.quantile(DEFAULT_QUANTILE) if not before.empty else test_cut
        period = np.where(ts > test_cut, _TEST, np.where(ts > valid_cut, _VALID, _TRAIN))
        return period, {"cutoff": str(test_cut), "valid_cutoff": str(valid_cut)}
    if scheme == "last-day":
        keys = ts.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[D]").astype(np.int64)
    else:  # leave-one-out: the row order (user, timestamp, given order) is the sequence
        keys = np.arange(len(events), dtype=np.int64)
    after = _steps_after(users, keys, is_step)
    return np.minimum(after, _TRAIN), {}


def _as_utc(ts: pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(ts)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _history_counts(frame: pd.DataFrame) -> pd.Series:
    return interactions(frame).groupby(S.USER_ID, sort=False).size()


def _eligible(target_frame: pd.DataFrame, history: pd.DataFrame, min_events: int) -> tuple[np.ndarray, np.ndarray]:
    """(users with targets and enough history, users with targets but too little), both sorted."""
    with_targets = np.sort(interactions(target_frame)[S.USER_ID].unique().astype(object))
    counts = _history_counts(history).reindex(with_targets, fill_value=0).to_numpy()
    ok = counts >= min_events
    return with_targets[ok], with_targets[~ok]


def split_events(
    events: pd.DataFrame,
    scheme: SplitScheme,
    *,
    cutoff: pd.Timestamp | None = None,
    collapse_variant_copies: bool = False,
    min_train_events: int = 1,
) -> Split:
    """Split canonical events into train / validation / test (see the module docstring).

    ``cutoff`` is only used by ``global-time`` (default: the 90% quantile of interaction timestamps; the
    validation cutoff is the same quantile inside the train part).
    """
    if scheme not in SPLIT_SCHEMES:
        raise ConfigError(f"unknown split scheme {scheme!r}; expected one of {', '.join(SPLIT_SCHEMES)}")
    if cutoff is not None and scheme != "global-time":
        raise ConfigError(f"cutoff only applies to the global-time scheme, not {scheme!r}; drop it")
    if min_train_events < 1:
        raise ConfigError(f"min_train_events must be >= 1, got {min_train_events}")
    _check(events)
    n_in = len(events)
    if collapse_variant_copies:
        events = drop_variant_copies(events)
    events = events.sort_values([S.USER_ID, S.TIMESTAMP], kind="stable").reset_index(drop=True)
    period, extra = _periods(events, scheme, cutoff)
    train = events[period == _TRAIN].reset_index(drop=True)
    valid = events[period == _VALID].reset_index(drop=True)
    test_all = events[period == _TEST]
    history = pd.concat([train, valid], ignore_index=True)
    test_users, excluded = _eligible(test_all, history, min_train_events)
    valid_users, _ = _eligible(valid, train, min_train_events)
    test = test_all[test_all[S.USER_ID].isin(test_users)].reset_index(drop=True)
    valid_targets = interactions(valid[valid[S.USER_ID].isin(valid_users)])
    all_users = events[S.USER_ID].nunique()
    report: dict[str, Any] = {
        "scheme": scheme,
        **extra,
        "collapse_variant_copies": collapse_variant_copies,
        "min_train_events": min_train_events,
        "events_in": n_in,
        "events_after_collapse": len(events),
        "events": {"train": len(train), "valid": len(valid), "test": len(test)},
        "users_total": int(all_users),
        "users_evaluated": len(test_users),
        "users_excluded": {"history_shorter_than_min_train_events": len(excluded)},
        "users_without_test_targets": int(all_users - len(test_users) - len(excluded)),
        "test_targets": int(_n_targets(test)),
        "valid_users": len(valid_users),
        "valid_targets": int(_n_targets(valid_targets)),
        "order": {
            "timestamps_order_only": timestamps_order_only(events),
            "consecutive_pairs_ascending_id": ascending_id_share(events),
        },
    }
    return Split(train, valid, test, valid_users, test_users, report)


def _n_targets(frame: pd.DataFrame) -> int:
    return len(interactions(frame)[[S.USER_ID, S.PRODUCT_ID]].drop_duplicates())


def train_valid_events(split: Split) -> pd.DataFrame:
    """Train + validation events, sorted like the input: the history used when refitting for test."""
    both = pd.concat([split.train, split.valid], ignore_index=True)
    return both.sort_values([S.USER_ID, S.TIMESTAMP], kind="stable").reset_index(drop=True)
