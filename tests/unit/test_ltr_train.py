"""Training the learned ranker: hold-out labels, a model that learns order, save/load, explanations."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from recsys.encoders import make_encoder
from recsys.errors import ConfigError
from recsys.ranking.ltr.model import LGBParams, load_model
from recsys.ranking.ltr.train import TrainParams, holdout_last, fit_ranker
from recsys.text.builders import product_texts
from tests.unit.ltr_data import sequence_frames

PARAMS = TrainParams(lgb=LGBParams(n_estimators=30, min_child_samples=5))


def _vectors(products: pd.DataFrame) -> np.ndarray:
    return make_encoder("hashing-256").encode(product_texts(products), kind="passage")


def test_holdout_last_event_and_last_day():
    ts = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-01", "2024-01-05"], utc=True)
    ev = pd.DataFrame({"user_id": ["a", "a", "a", "b", "b"], "product_id": ["x", "y", "z", "x", None],
                       "timestamp": ts})
    pos = np.array([0, 1, 2, 0, -1])
    inp, lab = holdout_last(ev, pos, "event")
    assert lab.tolist() == [False, False, True, True, False]
    assert inp.tolist() == [True, True, False, False, False]
    inp, lab = holdout_last(ev, pos, "day")  # both of a's items on the last day are labels
    assert lab.tolist() == [False, True, True, True, False]
    assert inp.tolist() == [True, False, False, False, False]


def test_model_learns_the_next_item_and_explains_itself(tmp_path):
    products, events = sequence_frames()
    model = fit_ranker(products, events, _vectors(products), PARAMS)
    assert model.meta["holdout"] == "day" and model.meta["users_with_positive_candidate"] > 50
    # rank for a new user who walked p03, p04, p05: p06 must come first
    from recsys.ranking.ltr.candidates import exact_search
    from recsys.features.sequences import user_batch
    from recsys.ranking.ltr.scoring import model_scores, score_batch
    from recsys.ranking.ltr.train import slice_features

    ctx, _ = slice_features(products, events, _vectors(products), events["timestamp"].max())
    batch = user_batch(ctx.vectors, [np.array([3, 4, 5])])
    excluded = np.zeros((1, ctx.n_items), bool)
    excluded[0, [3, 4, 5]] = True
    cands, x = score_batch(ctx, batch, model.candidates, excluded, exact_search(ctx.vectors), model.features)
    s = model_scores(model, cands, x)
    assert cands.positions[0, np.argmax(s[0])] == 6
    valid = cands.positions[0] >= 0
    contrib = model.contributions(x[0][valid])
    np.testing.assert_allclose(contrib.sum(axis=1), s[0][valid], rtol=1e-4, atol=1e-4)
    model.save(tmp_path)
    again = load_model(tmp_path)
    assert again is not None and again.features == model.features and again.candidates == model.candidates
    np.testing.assert_array_equal(again.predict(x[0][valid]), model.predict(x[0][valid]))


def test_training_is_deterministic():
    products, events = sequence_frames(n_users=40)
    v = _vectors(products)
    a = fit_ranker(products, events, v, PARAMS).booster.model_to_string()
    b = fit_ranker(products, events, v, PARAMS).booster.model_to_string()
    assert a == b


def test_too_little_data_says_to_use_the_blend():
    products, events = sequence_frames(n_users=5, length=1)
    with pytest.raises(ConfigError, match="blend"):
        fit_ranker(products, events, _vectors(products), PARAMS)


def test_ablation_drops_feature_groups():
    products, events = sequence_frames(n_users=40)
    model = fit_ranker(products, events, _vectors(products), replace(PARAMS, drop_groups=("text", "price")))
    assert "cos_profile" not in model.features and "price_distance" not in model.features
    assert "knn_recent" in model.features
