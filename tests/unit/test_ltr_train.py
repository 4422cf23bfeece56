"""Training the learned ranker: hold-out labels, a model that learns order, save/load, explanations."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from recsys.encoders import make_encoder
from recsys.errors import ConfigError
from recsys.ranking.ltr.model import LGBParams, load_model
from recsys.ranking.ltr.train import TrainParams, fit_ranker, holdout_last
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
    from recsys.features.sequences import user_batch
    from recsys.ranking.ltr.candidates import exact_search
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


def _abc_events() -> tuple[pd.DataFrame, pd.DataFrame]:
    """User u walks a → b → c on three days (plus a search with no product); v buys x then y on one day."""
    products = pd.DataFrame({"product_id": ["a", "b", "c", "x", "y"], "title": ["a", "b", "c", "x", "y"],
                             "description": "", "category": "", "brand": "", "price": np.nan})
    ts = pd.to_datetime(["2024-01-01 00:00", "2024-01-02 00:00", "2024-01-02 10:00", "2024-01-03 00:00",
                         "2024-01-05 00:00", "2024-01-05 00:00"], utc=True)
    events = pd.DataFrame({"user_id": ["u", "u", "u", "u", "v", "v"], "product_id": ["a", "b", None, "c", "x", "y"],
                           "event_type": ["purchase", "purchase", "search", "purchase", "purchase", "purchase"],
                           "timestamp": ts, "rating": np.nan, "text": ["", "", "gift", "", "", ""]})
    return products, events


def test_every_step_of_a_history_is_a_group_with_only_earlier_input():
    from recsys.features.sequences import ordered_histories
    from recsys.ranking.ltr.train import step_slices

    products, events = _abc_events()
    pos = np.array([0, 1, -1, 2, 3, 4])
    slices = step_slices(events, pos, TrainParams(holdout="day"))
    got = {}
    for sl in slices:
        hists = ordered_histories(events[sl.rows], pos[sl.rows], sl.users)
        for user, hist, labels in zip(sl.users, hists, sl.labels, strict=True):
            got[(user, sl.depth)] = (hist.tolist(), labels.tolist())
    # u: two groups, labelled b (input a) and c (input a, b); v has one step only, so no group
    assert got == {("u", 1): ([0], [1]), ("u", 0): ([0, 1], [2])}
    depth1 = next(sl for sl in slices if sl.depth == 1)
    # the depth-1 slice holds u's events before b's day only (v has no step at depth 1: nothing of v)
    assert depth1.rows.tolist() == [True, False, False, False, False, False]
    depth0 = next(sl for sl in slices if sl.depth == 0)
    assert depth0.rows.tolist() == [True, True, True, False, False, False]
    # by event: v's x → y becomes a group too; max_steps = 1 keeps only the last step
    by_event = step_slices(events, pos, TrainParams(holdout="event"))
    assert {(u, sl.depth) for sl in by_event for u in sl.users} == {("u", 0), ("u", 1), ("v", 0)}
    assert [sl.depth for sl in step_slices(events, pos, TrainParams(holdout="day", max_steps=1))] == [0]


def test_item_features_of_a_step_never_see_that_step_or_later():
    """Poisoning every user's last step must not change the rows of the earlier steps' groups."""
    import recsys.ranking.ltr.train as T

    products, events = sequence_frames(n_users=40, length=5, seed=4)
    v = _vectors(products)
    seen = []
    real = T.train_model

    def spy(x, y, g, *a, valid=None, refit=None, **k):
        seen.append((x, y, g))
        return real(x, y, g, *a, valid=valid, refit=refit, **k)

    T.train_model = spy
    try:
        fit_ranker(products, events, v, PARAMS)
        poisoned = events.copy()
        last = poisoned.groupby("user_id")["timestamp"].transform("max") == poisoned["timestamp"]
        poisoned.loc[last, "product_id"] = "p00"
        fit_ranker(products, poisoned, v, PARAMS)
    finally:
        T.train_model = real
    (xa, ya, ga), (xb, yb, gb) = seen  # training rows = the earlier steps (the last step is validation)
    np.testing.assert_array_equal(ga, gb)
    np.testing.assert_array_equal(ya, yb)
    np.testing.assert_array_equal(xa, xb)


def test_early_stopping_metadata_and_refit():
    products, events = sequence_frames(n_users=60, length=5, seed=5)
    model = fit_ranker(products, events, _vectors(products), PARAMS)
    es = model.meta["early_stopping"]
    assert es["metric"] == "ndcg@10" and es["refit"] is True
    assert 1 <= es["best_iteration"] <= es["rounds_run"] <= PARAMS.lgb.n_estimators
    assert 0 < es["valid_ndcg"] <= 1 and es["valid_groups"] == model.meta["groups_by_depth"][0] == 60
    assert es["train_groups"] == sum(n for d, n in model.meta["groups_by_depth"].items() if d > 0)
    assert model.booster.num_trees() == es["best_iteration"]  # the refit ran exactly the best count
    assert model.meta["groups"] == es["train_groups"] + es["valid_groups"]
    assert model.meta["prior"]["feature"].startswith("rank_")
    off = fit_ranker(products, events, _vectors(products), replace(PARAMS, early_stopping=False, prior="none"))
    assert off.meta["early_stopping"] is None and off.meta["prior"] is None
    assert off.booster.num_trees() == PARAMS.lgb.n_estimators
    kept = fit_ranker(products, events, _vectors(products), replace(PARAMS, refit=False))
    assert kept.booster.num_trees() == kept.meta["early_stopping"]["best_iteration"]
    assert kept.meta["groups"] == kept.meta["early_stopping"]["train_groups"]


def test_step_depths_are_cut_to_the_ease_budget():
    """Each depth costs one EASE solve over the interacted items: a budget of 2 × 5³ allows two depths of
    a 5-item catalogue, a tiny one still keeps the last step."""
    from recsys.ranking.ltr.train import affordable_steps, step_slices

    products, events = _abc_events()
    pos = np.array([0, 1, -1, 2, 3, 4])
    assert affordable_steps(events, pos, TrainParams(ease_cube_budget=2 * 5**3)) == 2
    assert affordable_steps(events, pos, TrainParams(ease_cube_budget=2 * 5**3 - 1)) == 1
    assert affordable_steps(events, pos, TrainParams(ease_cube_budget=1, max_steps=3)) == 1
    assert affordable_steps(events, pos, TrainParams(ease_cube_budget=1e9, max_steps=3)) == 3
    cut = step_slices(events, pos, TrainParams(holdout="day", ease_cube_budget=1))
    assert [sl.depth for sl in cut] == [0]


def test_neighbour_table_rows_on_request_match_the_full_table():
    from recsys.ranking.ltr.candidates import item_neighbours

    v = np.random.default_rng(3).normal(size=(50, 8)).astype(np.float32)
    full = item_neighbours(v, 6, chunk=7)
    part = item_neighbours(v, 6, chunk=7, rows=np.array([4, 40, 4, 17]))
    np.testing.assert_array_equal(part[[4, 17, 40]], full[[4, 17, 40]])
    assert (np.delete(part, [4, 17, 40], axis=0) == -1).all()
