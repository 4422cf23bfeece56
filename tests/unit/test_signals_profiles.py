from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.features.profiles import ProfileParams, build_profiles, event_weights
from recsys.features.signals import SignalParams, compute_signals, cooccurrence, decay

T0 = pd.Timestamp("2024-01-31", tz="UTC")


def events(rows):
    return pd.DataFrame(rows, columns=["user_id", "product_id", "event_type", "timestamp", "rating", "text"])


def day(d):
    return T0 - pd.Timedelta(days=d)


def test_decay_halves_at_half_life():
    assert decay(np.array([0.0, 10.0, 20.0, -5.0]), 10.0) == pytest.approx([1.0, 0.5, 0.25, 1.0])


def test_popularity_counts_distinct_users_and_ignores_future():
    ev = events([
        ("a", "p0", "purchase", day(0), np.nan, ""),
        ("a", "p0", "purchase", day(0), np.nan, ""),  # same user twice counts once
        ("b", "p0", "view", day(0), np.nan, ""),
        ("c", "p1", "purchase", day(0), np.nan, ""),
        ("d", "p2", "purchase", T0 + pd.Timedelta(days=1), np.nan, ""),  # after as_of
    ])
    pos = np.array([0, 0, 0, 1, 2])
    sig = compute_signals(ev, pos, 3, T0, SignalParams())
    assert sig.popularity[0] == pytest.approx(1.0)
    assert 0 < sig.popularity[1] < 1 and sig.popularity[2] == 0
    assert list(sig.interactions) == [2, 1, 0]


def test_rating_is_shrunk_toward_the_mean():
    ev = events([("a", "p0", "review", day(1), 5.0, ""), ("b", "p1", "review", day(1), 1.0, ""),
                 *[(f"u{i}", "p2", "review", day(1), 1.0, "") for i in range(20)]])
    pos = np.array([0, 1] + [2] * 20)
    sig = compute_signals(ev, pos, 3, T0, SignalParams(rating_prior=5.0))
    # one 1-star vote moves the average less than twenty
    assert sig.rating[2] < sig.rating[1] < sig.rating[0]
    assert list(sig.rating_count) == [1, 1, 20]


def test_trending_prefers_recent_activity():
    rows = [(f"old{i}", "p0", "purchase", day(300), np.nan, "") for i in range(10)]
    rows += [(f"new{i}", "p1", "purchase", day(1), np.nan, "") for i in range(10)]
    sig = compute_signals(events(rows), np.array([0] * 10 + [1] * 10), 2, T0, SignalParams())
    assert sig.trending[1] == pytest.approx(1.0) and sig.trending[0] < 0.01


def test_cooccurrence_known_answer():
    users = np.array(["a", "a", "b", "b", "c"])
    items = np.array([0, 1, 0, 1, 2])
    c = cooccurrence(users, items, 3).toarray()
    assert c[0, 1] == pytest.approx(1.0) and c[1, 0] == pytest.approx(1.0)
    assert c[0, 0] == 0 and c[0, 2] == 0
    pruned = cooccurrence(np.array(["a"] * 4), np.array([0, 1, 2, 3]), 4, neighbours=2)
    assert (pruned.getnnz(axis=1) == 2).all()


def test_one_star_review_pushes_profile_away():
    item_vecs = np.eye(3, dtype=np.float32)  # 0 = coffee, 1 = books, 2 = shoes
    ev = events([("u", "p0", "review", day(1), 1.0, "bad"), ("u", "p1", "review", day(1), 5.0, "good")])
    pos = np.array([0, 1])
    prof = build_profiles(ev, pos, item_vecs, np.zeros((2, 3), np.float32), np.zeros(2, bool), T0, ProfileParams())
    v = prof.vectors[0]
    assert v[1] > 0 > v[0]  # toward the loved item, away from the hated one


def test_no_positive_evidence_means_no_profile():
    ev = events([("u", "p0", "review", day(1), 1.0, "")])
    prof = build_profiles(ev, np.array([0]), np.eye(2, dtype=np.float32), np.zeros((1, 2), np.float32),
                          np.zeros(1, bool), T0, ProfileParams())
    assert not prof.has_profile[0] and not prof.vectors[0].any()


def test_recency_and_type_weights():
    ev = events([("u", "p0", "purchase", day(0), np.nan, ""), ("u", "p0", "view", day(0), np.nan, ""),
                 ("u", "p0", "purchase", day(365), np.nan, ""), ("u", "p0", "impression", day(0), np.nan, "")])
    w = event_weights(ev, T0, ProfileParams(half_life_days=365))
    assert w[0] == pytest.approx(2.0) and w[1] == pytest.approx(0.5) and w[2] == pytest.approx(1.0)
    assert w[3] == 0


def test_text_history_enters_the_profile():
    ev = events([("u", None, "search", day(0), np.nan, "shoes")])
    text_vecs = np.array([[0, 0, 1]], np.float32)
    prof = build_profiles(ev, np.array([-1]), np.eye(3, dtype=np.float32), text_vecs, np.array([True]), T0,
                          ProfileParams())
    assert prof.has_profile[0] and prof.vectors[0] == pytest.approx([0, 0, 1])
