"""LEAKAGE: the learned ranker fitted for an evaluation must never see test-period events.

The test events are poisoned (every test target replaced by another product, ratings flipped); the
model fitted on the train + validation view and its scores must stay bit-identical. A control poisons
one train event instead and must change them, so the test can fail.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from recsys.data.splits import split_events, train_valid_events
from recsys.encoders import CachedEncoder, make_encoder
from recsys.evaluation.data import build_eval_data
from recsys.evaluation.ltr_scorers import LTRScorer
from recsys.ranking.ltr.model import LGBParams
from recsys.ranking.ltr.train import TrainParams
from tests.unit.ltr_data import item_id, sequence_frames

PARAMS = TrainParams(lgb=LGBParams(n_estimators=20, min_child_samples=5))
ENC = CachedEncoder(make_encoder("hashing-256"))


def _fit_and_score(products: pd.DataFrame, events: pd.DataFrame) -> tuple[str, np.ndarray]:
    sp = split_events(events, "leave-one-out")
    full = build_eval_data(products, train_valid_events(sp), users=sp.test_users)
    scorer = LTRScorer(ENC, PARAMS)
    scorer.fit(full, {})
    return scorer.model.booster.model_to_string(), scorer.score(full.user_rows(sp.test_users))


def _last_per_user(events: pd.DataFrame) -> np.ndarray:
    ordered = events.sort_values(["user_id", "timestamp"], kind="stable")
    return ordered.groupby("user_id").tail(1).index.to_numpy()


def test_poisoned_test_events_leave_the_model_and_scores_bit_identical():
    products, events = sequence_frames(n_users=60, length=6, seed=1)
    model_a, scores_a = _fit_and_score(products, events)
    poisoned = events.copy()
    last = _last_per_user(poisoned)
    poisoned.loc[last, "product_id"] = [item_id(int(p[1:]) + 5) for p in poisoned.loc[last, "product_id"]]
    poisoned.loc[last, "rating"] = 1.0
    poisoned.loc[last, "event_type"] = "review"
    model_b, scores_b = _fit_and_score(products, poisoned)
    assert model_a == model_b
    np.testing.assert_array_equal(scores_a, scores_b)


def test_control_poisoning_a_training_event_changes_the_model():
    products, events = sequence_frames(n_users=60, length=6, seed=1)
    model_a, scores_a = _fit_and_score(products, events)
    poisoned = events.copy()
    second_to_last = poisoned.sort_values(["user_id", "timestamp"], kind="stable").groupby("user_id").nth(-2).index
    poisoned.loc[second_to_last[:20], "product_id"] = item_id(0)  # validation targets = training labels
    model_b, scores_b = _fit_and_score(products, poisoned)
    assert model_a != model_b
    assert not np.array_equal(scores_a, scores_b)


def test_global_time_split_trains_strictly_before_the_cutoff():
    products, events = sequence_frames(n_users=60, length=6, seed=1)
    sp = split_events(events, "global-time")
    full = build_eval_data(products, train_valid_events(sp), users=sp.test_users)
    scorer = LTRScorer(ENC, replace(PARAMS, holdout="event"))
    scorer.fit(full, {})
    assert pd.Timestamp(scorer.model.meta["as_of"]) < sp.test["timestamp"].min()
