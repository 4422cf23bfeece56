from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.data import schema as S
from recsys.data.splits import (
    drop_variant_copies,
    split_events,
    target_lists,
    train_valid_events,
)
from recsys.errors import ConfigError, DataValidationError

D0 = pd.Timestamp("2024-03-01", tz="UTC")


def events(rows):
    frame = pd.DataFrame(rows, columns=list(S.EVENT_COLUMNS))
    frame[S.TIMESTAMP] = pd.to_datetime(frame[S.TIMESTAMP], utc=True).astype("datetime64[us, UTC]")
    return frame.sort_values([S.USER_ID, S.TIMESTAMP], kind="stable").reset_index(drop=True)


def at(day, hour=0):
    return D0 + pd.Timedelta(days=day, hours=hour)


def ev(user, item, day, hour=0, text="", kind="purchase"):
    return (user, item, kind, at(day, hour), np.nan, text)


def targets(frame, users):
    lists = target_lists(frame, np.asarray(users, dtype=object))
    return {u: sorted(t.tolist()) for u, t in zip(users, lists, strict=True)}


@pytest.fixture
def log():
    return events([
        ev("a", "p1", 0), ev("a", "p2", 1), ev("a", "p3", 2),
        ev("a", "p4", 3, 1), ev("a", "p5", 3, 9), ev("a", "p4", 3, 12),  # last day: p4 twice, p5
        ev("b", "p1", 5),  # a single event: no history before test
        ev("c", "p2", 0), ev("c", "p3", 4),  # two days: test has history, validation has none
    ])


def test_last_day_puts_every_item_of_the_last_day_in_test(log):
    split = split_events(log, "last-day")
    assert targets(split.test, ["a"]) == {"a": ["p4", "p5"]}
    assert targets(split.valid, ["a"]) == {"a": ["p3"]}
    assert sorted(split.train[split.train[S.USER_ID] == "a"][S.PRODUCT_ID]) == ["p1", "p2"]
    assert split.report["test_targets"] == 3  # a: p4, p5 (distinct); c: p3


def test_user_with_a_single_event_is_excluded_and_counted(log):
    split = split_events(log, "last-day")
    assert split.test_users.tolist() == ["a", "c"]
    assert "b" not in set(split.test[S.USER_ID])
    assert split.report["users_total"] == 3
    assert split.report["users_evaluated"] == 2
    assert split.report["users_excluded"] == {"history_shorter_than_min_train_events": 1}


def test_two_day_user_is_tested_on_validation_history_but_not_validated(log):
    split = split_events(log, "last-day")
    assert split.valid_users.tolist() == ["a"]
    history = train_valid_events(split)
    assert history[history[S.USER_ID] == "c"][S.PRODUCT_ID].tolist() == ["p2"]
    assert split.report["valid_targets"] == 1


def test_min_train_events_raises_the_bar(log):
    split = split_events(log, "last-day", min_train_events=2)
    assert split.test_users.tolist() == ["a"]


def test_leave_one_out_follows_order_within_a_day():
    log = events([ev("u", f"p{i}", 0) for i in range(4)])  # same timestamp: the given order decides
    split = split_events(log, "leave-one-out")
    assert targets(split.test, ["u"]) == {"u": ["p3"]}
    assert targets(split.valid, ["u"]) == {"u": ["p2"]}
    assert split.train[S.PRODUCT_ID].tolist() == ["p0", "p1"]


def test_leave_one_out_two_events_test_only():
    split = split_events(events([ev("u", "p0", 0), ev("u", "p1", 1)]), "leave-one-out")
    assert split.test_users.tolist() == ["u"] and split.valid_users.tolist() == []


def test_search_events_are_history_not_targets():
    log = events([
        ev("u", "p0", 0), ev("u", None, 1, text="red shoes", kind="search"), ev("u", "p1", 2),
        ev("u", "p2", 3), ev("u", None, 3, 5, text="after", kind="search"),
    ])
    split = split_events(log, "last-day")
    assert split.train[S.TEXT].tolist() == ["", "red shoes"]  # the query stays as history text
    assert targets(split.test, ["u"]) == {"u": ["p2"]}
    assert split.report["test_targets"] == 1


def test_global_time_uses_the_cutoff_and_quantile_inside_train():
    log = events([ev("u", f"p{d}", d) for d in range(10)] + [ev("v", "p0", 9)])
    split = split_events(log, "global-time", cutoff=at(7, 12))
    assert targets(split.test, ["u"]) == {"u": ["p8", "p9"]}
    assert split.test_users.tolist() == ["u"]  # v has no history before the cutoff
    assert split.report["users_excluded"]["history_shorter_than_min_train_events"] == 1
    assert split.train[S.TIMESTAMP].max() < split.valid[S.TIMESTAMP].min()
    assert split.valid[S.TIMESTAMP].max() <= at(7, 12)


def test_collapse_variant_copies_keeps_one_per_user_day_text():
    log = events([
        ev("u", "p1", 0, text="Great gift"), ev("u", "p2", 0, text="Great gift"),
        ev("u", "p3", 0, text=""), ev("u", "p4", 0, text=""), ev("u", "p5", 1, text="Great gift"),
    ])
    assert drop_variant_copies(log)[S.PRODUCT_ID].tolist() == ["p1", "p3", "p4", "p5"]
    split = split_events(log, "last-day", collapse_variant_copies=True)
    assert split.report["events_after_collapse"] == 4


def test_bad_options_and_data_are_rejected(log):
    with pytest.raises(ConfigError, match="unknown split scheme"):
        split_events(log, "random")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="cutoff"):
        split_events(log, "last-day", cutoff=D0)
    with pytest.raises(DataValidationError):
        split_events(log.drop(columns=[S.TIMESTAMP]), "last-day")


GIFT_CARDS = Path(__file__).resolve().parents[2] / "data" / "amazon2018_gift_cards" / S.EVENTS_FILE


@pytest.mark.skipif(not GIFT_CARDS.exists(), reason="amazon2018_gift_cards is not in data/")
def test_gift_cards_last_day_matches_the_reference_protocol():
    split = split_events(pd.read_parquet(GIFT_CARDS), "last-day")
    assert split.report["users_evaluated"] == 310
    assert split.report["test_targets"] == 643
    assert split.report["users_excluded"]["history_shorter_than_min_train_events"] == 146
