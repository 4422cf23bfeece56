"""Multi-source candidates and features on hand-made contexts with obvious answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.errors import ConfigError
from recsys.features.items import ItemFeatures
from recsys.features.sequences import user_batch
from recsys.features.signals import ItemSignals
from recsys.ranking.ltr.candidates import CandidateParams, exact_search, generate_candidates
from recsys.ranking.ltr.features import FEATURE_GROUPS, compute_features, feature_names

N = 6


def _ctx():
    # items 0..5; vectors: 0≈1 (axis x), 2≈3 (axis y), 4, 5 on their own axes
    v = np.zeros((N, 4), np.float32)
    v[[0, 1], 0] = 1
    v[[2, 3], 1] = 1
    v[4, 2] = 1
    v[5, 3] = 1
    sim = sp.csr_matrix(np.array([
        # 0's neighbour is 4, 2's neighbour is 5
        [0, 0, 0, 0, .9, 0], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, .8],
        [0, 0, 0, 0, 0, 0], [.9, 0, 0, 0, 0, 0], [0, 0, .8, 0, 0, 0]], np.float32))
    pop = np.array([.1, .2, .3, .4, .5, 1.0], np.float32)
    sig = ItemSignals(popularity=pop, trending=pop / 2, rating=np.full(N, .5, np.float32),
                      rating_count=np.array([0, 1, 1, 1, 1, 1], np.int32), interactions=np.arange(N, dtype=np.int32),
                      sentiment=np.zeros(N, np.float32), sentiment_count=np.zeros(N, np.int32))
    products = pd.DataFrame({"product_id": [f"i{i}" for i in range(N)], "category": ["A", "A", "B", "B", "A", ""],
                             "brand": ["x"] * N, "price": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0]})
    trans = sp.csr_matrix(([0.5], ([2], [1])), shape=(N, N), dtype=np.float32)  # 1 follows 2, not the reverse
    return ItemFeatures.assemble(products, v, sig, sim, trans, np.arange(N, dtype=float))


def _gen(hist, params=CandidateParams(vector=2, recent=1, knn=3, popular=1)):
    ctx = _ctx()
    batch = user_batch(ctx.vectors, [np.asarray(h, np.int64) for h in hist])
    excluded = np.zeros((len(hist), N), bool)
    for i, h in enumerate(hist):
        excluded[i, h] = True
    return ctx, batch, generate_candidates(ctx, batch, params, excluded, exact_search(ctx.vectors))


def test_knn_source_is_order_aware_most_recent_item_first():
    _, _, c = _gen([[0, 2]])  # 2 is the most recent: its neighbour 5 must outrank 0's neighbour 4
    knn = c.ranks["knn"][0]
    pos = c.positions[0]
    assert knn[pos == 5][0] == 0 and knn[pos == 4][0] == 1
    _, _, c = _gen([[2, 0]])
    assert c.ranks["knn"][0][c.positions[0] == 4][0] == 0


def test_next_source_follows_directed_transitions():
    _, _, c = _gen([[0, 2]])
    i1 = int(np.flatnonzero(c.positions[0] == 1)[0])
    assert "next" in c.sources_of(0, i1) and c.ranks["next"][0, i1] == 0
    _, _, c = _gen([[1]])  # nothing follows 1
    assert np.isnan(c.ranks["next"][0]).all()


def test_history_is_never_a_candidate_and_sources_are_kept():
    _, _, c = _gen([[0, 2]])
    pos = c.positions[0][c.positions[0] >= 0]
    assert not set(pos.tolist()) & {0, 2}
    i3 = int(np.flatnonzero(c.positions[0] == 3)[0])  # 3 is 2's vector twin
    assert "recent" in c.sources_of(0, i3)
    i5 = int(np.flatnonzero(c.positions[0] == 5)[0])  # 5: knn neighbour and the most popular item
    assert set(c.sources_of(0, i5)) >= {"knn", "popular"}


def test_fusion_prefers_items_found_by_more_sources():
    _, _, c = _gen([[0, 2]])
    f = dict(zip(c.positions[0].tolist(), c.fusion_scores()[0].tolist(), strict=True))
    # 3: vector rank 0 + recent rank 0; 5: knn rank 0 + popular rank 0; 4: knn rank 1 only (k = 10)
    assert f[3] == pytest.approx(0.2) and f[5] == pytest.approx(0.2)
    assert f[4] == pytest.approx(1 / 11)


def test_sources_can_be_switched_off_and_are_validated():
    _, _, c = _gen([[0, 2]], CandidateParams(vector=2, recent=1, knn=3, popular=1, sources=("popular",)))
    assert c.positions[0][c.positions[0] >= 0].tolist() == [5]
    with pytest.raises(ConfigError, match="subset"):
        CandidateParams(sources=("nope",))


def test_features_have_known_values():
    ctx, batch, c = _gen([[0, 2], [1]])
    names = feature_names()
    x = compute_features(ctx, batch, c, CandidateParams(recent_items=3), names)
    col = {n: j for j, n in enumerate(names)}
    row = int(np.flatnonzero(c.positions[0] == 3)[0])
    assert x[0, row, col["cos_last"]] == pytest.approx(1.0)  # 3 is 2's twin, 2 is the last item
    assert x[0, row, col["category_match"]] == pytest.approx(0.5)  # one of the two history items is B
    assert x[0, row, col["last_category_match"]] == pytest.approx(1.0)
    assert x[0, row, col["history_len"]] == 2
    # price distance: |log1p(4) − log1p(1)| (item 2 has no price and is left out of the mean)
    assert x[0, row, col["price_distance"]] == pytest.approx(np.log1p(4) - np.log1p(1), rel=1e-5)
    assert np.isnan(x[1][c.positions[1] < 0]).all()  # padding rows are NaN
    assert feature_names(("price",)) == tuple(n for n in names if n not in FEATURE_GROUPS["price"])
    with pytest.raises(ConfigError, match="unknown feature group"):
        feature_names(("colour",))


def _ease_ctx(tiebreak_seed: int = 0):
    """_ctx with EASE weights: 0 → 3 (.5) and 0 → 4, 0 → 5 tied (.2); 2 → 3 (.4) and 2 → 1 (−.3)."""
    base = _ctx()
    ease = sp.csr_matrix(np.array([
        [0, 0, 0, .5, .2, .2], [0, 0, 0, 0, 0, 0], [0, -.3, 0, .4, 0, 0],
        [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], np.float32))
    products = pd.DataFrame({"product_id": [f"i{i}" for i in range(N)], "category": ["A", "A", "B", "B", "A", ""],
                             "brand": ["x"] * N, "price": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0]})
    return ItemFeatures.assemble(products, base.vectors, base.signals, base.cooc, base.trans, base.age_days,
                                 ease=ease, seed=tiebreak_seed)


def _ease_candidates(ctx, hist, params=CandidateParams(sources=("ease",))):
    batch = user_batch(ctx.vectors, [np.asarray(hist, np.int64)])
    excluded = np.zeros((1, N), bool)
    excluded[0, hist] = True
    return batch, generate_candidates(ctx, batch, params, excluded, exact_search(ctx.vectors, ctx.tiebreak))


def test_ease_source_ranks_the_binary_history_times_the_ease_weights():
    ctx = _ease_ctx()
    _, c = _ease_candidates(ctx, [0, 2, 0])  # a repeated item counts once (binary history)
    found = c.positions[0][c.positions[0] >= 0].tolist()
    # 3: .5 + .4 = .9 first; 4 and 5 tie at .2; 1 scores −.3 (not positive) and is not a candidate
    assert found[0] == 3 and set(found) == {3, 4, 5}
    assert c.ranks["ease"][0][c.positions[0] == 3][0] == 0
    np.testing.assert_allclose(c.ease[0], [0, -.3, 0, .9, .2, .2], atol=1e-6)
    assert "ease" in c.sources_of(0, int(np.flatnonzero(c.positions[0] == 3)[0]))


def test_ease_ties_follow_the_tiebreak_order_not_the_id():
    orders = set()
    for seed in range(8):
        ctx = _ease_ctx(seed)
        _, c = _ease_candidates(ctx, [0, 2])
        found = c.positions[0][c.positions[0] >= 0].tolist()
        tied = found[1:]
        assert tied == sorted([4, 5], key=lambda i: ctx.tiebreak[i])
        orders.add(tuple(tied))
    assert orders == {(4, 5), (5, 4)}  # some seed puts the higher id first


def test_ease_features_score_relative_score_and_rank():
    ctx = _ease_ctx()
    batch, c = _ease_candidates(ctx, [0, 2], CandidateParams())
    names = feature_names()
    x = compute_features(ctx, batch, c, CandidateParams(), names)
    col = {n: j for j, n in enumerate(names)}
    row = {int(p): j for j, p in enumerate(c.positions[0]) if p >= 0}
    assert x[0, row[3], col["ease_score"]] == pytest.approx(0.9)
    assert x[0, row[4], col["ease_score_rel"]] == pytest.approx(0.2 / 0.9)
    assert x[0, row[1], col["ease_score"]] == pytest.approx(-0.3)  # found by another source: score kept
    assert x[0, row[3], col["rank_ease"]] == 0 and np.isnan(x[0, row[1], col["rank_ease"]])
    assert {"ease_score", "ease_score_rel"} == set(FEATURE_GROUPS["ease"])
    assert "rank_ease" in FEATURE_GROUPS["source_ranks"]


def test_top_lists_break_ties_by_tiebreak_never_by_position():
    from recsys.ranking.ltr.candidates import top_order

    scores = np.array([[1.0, 2.0, 2.0, 2.0, 0.5, 2.0]], np.float32)
    tiebreak = np.array([0, 4, 1, 5, 2, 3])
    # the four 2.0s in tie-break order (2 → 1, 5 → 3, 1 → 4, 3 → 5); the cut at 3 keeps the first three
    assert top_order(scores, 3, tiebreak)[0].tolist() == [2, 5, 1]
    assert top_order(scores, 6, tiebreak)[0].tolist() == [2, 5, 1, 3, 0, 4]
    # identical vectors (variant copies): the exact search returns them in tie-break order as well
    v = np.zeros((4, 2), np.float32)
    v[:, 0] = 1
    assert exact_search(v, np.array([3, 1, 0, 2]))(v[:1], 4)[0].tolist() == [2, 1, 3, 0]


def test_cold_features_repeat_text_only_for_items_with_few_users():
    from recsys.ranking.ltr.features import COLD_USERS

    ctx, batch, c = _gen([[0, 2]])
    names = feature_names()
    x = compute_features(ctx, batch, c, CandidateParams(), names)
    col = {n: j for j, n in enumerate(names)}
    for j, p in enumerate(c.positions[0]):
        if p < 0:
            continue
        if ctx.signals.interactions[p] <= COLD_USERS:  # interactions are 0..5 by position in _ctx
            assert x[0, j, col["cos_profile_cold"]] == pytest.approx(x[0, j, col["cos_profile"]])
        else:
            assert np.isnan(x[0, j, col["cos_profile_cold"]]) and np.isnan(x[0, j, col["cos_recent_max_cold"]])


def test_index_answers_are_reordered_by_tiebreak_among_equal_scores():
    from recsys.index.exact import ExactIndex
    from recsys.ranking.ltr.ranker import index_search

    v = np.zeros((5, 2), np.float32)
    v[[0, 2, 3], 0] = 1  # three copies of one vector
    v[[1, 4], 1] = 1
    index = ExactIndex(v)
    assert index.search(v[:1], 3)[1][0].tolist() == [0, 2, 3]  # the index itself: position order
    assert index_search(index, np.array([2, 9, 0, 1, 9]))(v[:1], 3)[0].tolist() == [2, 3, 0]
