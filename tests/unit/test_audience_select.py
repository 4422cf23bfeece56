"""Audience selection rules on tiny seeded data with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.audience.build import AudienceParams, select_audiences
from recsys.audience.executor import LocalExecutor
from recsys.audience.select import Candidates, assign_capped, filter_candidates, holdout_mask, user_hashes
from recsys.errors import ConfigError


def _sequential_greedy(c: Candidates, size: int, cap: int | None) -> np.ndarray:
    """The rule as written in the issue, one triple at a time (the reference for the fixpoint)."""
    order = np.lexsort((c.row, c.campaign, -c.score))
    per_user: dict[int, int] = {}
    per_camp: dict[int, int] = {}
    keep = np.zeros(len(c), bool)
    for i in order:
        u, k = int(c.row[i]), int(c.campaign[i])
        if (cap is None or per_user.get(u, 0) < cap) and per_camp.get(k, 0) < size:
            keep[i] = True
            per_user[u] = per_user.get(u, 0) + 1
            per_camp[k] = per_camp.get(k, 0) + 1
    return keep


def test_cap_keeps_user_where_they_score_highest() -> None:
    # user 0 scores .9 in campaign 1, .8 in campaign 0, .1 in campaign 2; cap 2 drops campaign 2
    c = Candidates(np.array([0, 1, 2, 2]), np.array([0, 0, 0, 1]), np.array([0.8, 0.9, 0.1, 0.05], np.float32))
    assert assign_capped(c, size=5, max_per_user=2).tolist() == [True, True, False, True]
    assert assign_capped(c, size=5, max_per_user=1).tolist() == [False, True, False, True]
    assert assign_capped(c, size=5, max_per_user=None).all()


def test_full_campaign_frees_the_user_for_the_next_one() -> None:
    # campaign 0 has room for one: user 1 (0.95) wins it, so user 0 (0.9 there) goes to campaign 1 instead
    c = Candidates(np.array([0, 0, 1]), np.array([1, 0, 0]), np.array([0.95, 0.9, 0.5], np.float32))
    assert assign_capped(c, size=1, max_per_user=1).tolist() == [True, False, True]


@pytest.mark.parametrize("cap", [None, 1, 2, 3])
def test_compiled_walk_equals_sequential_greedy(cap: int | None) -> None:
    # random layouts, ties in score included (score steps of 0.5), against the plain Python loop
    rng = np.random.default_rng(7)
    for _ in range(200):
        n_camp, n_users = int(rng.integers(1, 7)), int(rng.integers(1, 25))
        camp = np.repeat(np.arange(n_camp), int(rng.integers(1, 20)))
        keys = np.unique(camp * 1000 + rng.integers(0, n_users, len(camp)))
        c = Candidates(keys // 1000, keys % 1000, (rng.integers(-2, 5, len(keys)) / 2).astype(np.float32))
        size = int(rng.integers(1, 8))
        assert (assign_capped(c, size, cap) == _sequential_greedy(c, size, cap)).all()


def test_filter_drops_padding_exclusions_and_low_scores() -> None:
    scores = [np.array([0.9, 0.5, -np.inf], np.float32), np.array([0.7, 0.2], np.float32)]
    rows = [np.array([3, 1, -1]), np.array([3, 2])]
    c = filter_candidates(scores, rows, [np.array([3]), np.array([], np.int64)], min_score=0.3)
    assert list(zip(c.campaign.tolist(), c.row.tolist(), strict=True)) == [(0, 1), (1, 3)]


def test_holdout_is_deterministic_and_near_the_fraction() -> None:
    users = np.array([f"user{i}" for i in range(20_000)])
    h = user_hashes(users)
    a, b = holdout_mask("camp-A", h, 0.1), holdout_mask("camp-A", user_hashes(users), 0.1)
    assert (a == b).all()
    assert 0.09 < a.mean() < 0.11
    other = holdout_mask("camp-B", h, 0.1)
    assert 0.005 < (a & other).mean() < 0.02  # independent across campaigns: about 0.1 × 0.1
    assert not holdout_mask("camp-A", h, 0.0).any()
    assert holdout_mask("camp-A", h[:5], 0.5).tolist() == holdout_mask("camp-A", h, 0.5)[:5].tolist()


def test_invalid_parameters_say_what_to_fix() -> None:
    with pytest.raises(ConfigError, match="holdout"):
        AudienceParams(holdout=1.0)
    with pytest.raises(ConfigError, match="max-per-user"):
        AudienceParams(max_per_user=0)


def _clustered(n_users: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = np.eye(8, dtype=np.float32)
    users = centers[rng.integers(0, 8, n_users)] + 0.3 * rng.standard_normal((n_users, 8)).astype(np.float32)
    users /= np.linalg.norm(users, axis=1, keepdims=True)
    return users, centers[:3]


def test_select_audiences_caps_sizes_and_refetches_when_short() -> None:
    users, queries = _clustered(300)
    ids = np.array([f"u{i:03d}" for i in range(300)], dtype=object)
    # overfetch 1.0 with cap 1 and identical-ish campaigns forces refetch rounds
    params = AudienceParams(size=40, holdout=0.2, max_per_user=1, overfetch=1.0)
    queries = np.vstack([queries[0], queries[0], queries[0]])
    with LocalExecutor(users, chunk_rows=64) as eng:
        res = select_audiences(ids, ["a", "b", "c"], queries, [np.array([0, 1])] * 3, params, eng)
    frames = res.audiences
    assert [len(frames[c]) for c in "abc"] == [40, 40, 40]
    everyone = np.concatenate([frames[c]["user_id"].to_numpy() for c in "abc"])
    assert len(set(everyone)) == 120  # cap 1: no user in two audiences
    assert not {"u000", "u001"} & set(everyone)
    assert res.stats["fetch_rounds"] > 1
    # campaign a took the best users: its scores are all >= those of b, and b's >= c's
    assert frames["a"]["score"].min() >= frames["b"]["score"].max() >= frames["c"]["score"].max()
    assert frames["a"]["rank"].tolist() == list(range(1, 41))
