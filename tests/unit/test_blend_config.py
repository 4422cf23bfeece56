from __future__ import annotations

import json

import numpy as np
import pytest

from recsys.config import BlendConfig, BlendWeights, load_config
from recsys.errors import ConfigError
from recsys.ranking.blend import Filters, blend_scores, filter_mask, mmr_select, top_k_order


def test_blend_scores_weighted_sum():
    feats = {"cosine": np.array([1.0, 0.0]), "popularity": np.array([0.0, 1.0])}
    total, parts = blend_scores(feats, BlendWeights(cosine=2, popularity=0.5))
    assert total == pytest.approx([2.0, 0.5])
    assert parts["cosine"] == pytest.approx([2.0, 0.0])


def test_filter_mask():
    pos = np.array([0, 1, 2, 3])
    cats = np.array(["Books > Fiction", "Sports > Running", "Books > Comics", "Kitchen"], dtype=object)
    prices = np.array([5.0, 50.0, np.nan, 20.0])
    assert filter_mask(pos, cats, prices, Filters(exclude=frozenset({0}))).tolist() == [False, True, True, True]
    assert filter_mask(pos, cats, prices, Filters(category="books")).tolist() == [True, False, True, False]
    assert filter_mask(pos, cats, prices, Filters(min_price=10, max_price=30)).tolist() == [False, False, False, True]


def test_top_k_order_ties():
    assert top_k_order(np.array([1.0, 2.0, 2.0, 0.5]), 3, np.array([0, 1, 2, 3])).tolist() == [1, 2, 0]
    assert top_k_order(np.array([1.0, 2.0, 2.0, 0.5]), 3, np.array([0, 9, 2, 3])).tolist() == [2, 1, 0]
    assert top_k_order(np.array([1.0, 1.0]), 2, tiebreak=np.array([5, 3])).tolist() == [1, 0]


@pytest.mark.parametrize("n, k", [(1, 1), (5, 3), (300, 50), (5000, 50), (40, 40), (40, 100)])
def test_top_k_order_is_the_first_k_of_a_full_sort(n: int, k: int):
    """The partial selection picks exactly what sorting every score picks: many ties (scores on a coarse
    grid) across the k-th place, ties broken by `tiebreak`, NaN last."""
    rng = np.random.default_rng(n * 7 + k)
    for _ in range(20):
        scores = rng.integers(0, 6, n).astype(np.float64) / 5
        scores[rng.random(n) < 0.1] = np.nan
        tiebreak = rng.permutation(n)
        assert top_k_order(scores, k, tiebreak).tolist() == np.lexsort((tiebreak, -scores))[:k].tolist()


def test_mmr_prefers_a_different_item_second():
    vecs = np.array([[1, 0], [0.99, 0.14], [0, 1]], np.float32)
    scores = np.array([1.0, 0.95, 0.8])
    assert mmr_select(scores, vecs, 2, lam=1.0).tolist() == [0, 1]
    assert mmr_select(scores, vecs, 2, lam=0.3).tolist() == [0, 2]


def test_config_id_is_content_hash_and_file_roundtrip(tmp_path):
    a, b = BlendConfig(), BlendConfig()
    assert a.id == b.id and a.id.startswith("blend-")
    c = BlendConfig(weights=BlendWeights(cosine=0.5))
    assert c.id != a.id
    named = BlendConfig(id="arm-b")
    assert named.id == "arm-b"
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"id": "exp1", "weights": {"cooc": 0.9}}))
    assert load_config(p).weights.cooc == 0.9
    t = tmp_path / "c.toml"
    t.write_text('id = "t1"\n[weights]\npopularity = 0.1\n')
    assert load_config(t).id == "t1"


@pytest.mark.parametrize("body,match", [
    ({"weights": {"cosine": -1}}, "weights.cosine"),
    ({"weights": {"bogus": 1}}, "bogus"),
    ({"mmr_lambda": 2}, "mmr_lambda"),
])
def test_bad_configs_are_typed_errors(tmp_path, body, match):
    p = tmp_path / "c.json"
    p.write_text(json.dumps(body))
    with pytest.raises(ConfigError, match=match):
        load_config(p)


def test_missing_or_unparsable_config(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.json")
    p = tmp_path / "c.json"
    p.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_config(p)
