"""Multi-source candidates and features on hand-made contexts with obvious answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.errors import ConfigError
from recsys.ranking.ltr.candidates import CandidateParams, exact_search, generate_candidates
from recsys.features.items import ItemFeatures
from recsys.features.sequences import user_batch
from recsys.ranking.ltr.features import FEATURE_GROUPS, compute_features, feature_names
from recsys.features.signals import ItemSignals

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
                      rating_count=np.array([0, 1, 1, 1, 1, 1], np.int32), interactions=np.arange(N, dtype=np.int32))
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
