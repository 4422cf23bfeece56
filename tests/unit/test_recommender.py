from __future__ import annotations

import numpy as np
import pytest

from recsys import Filters, Recommender, UnknownItemError, UnknownUserError
from recsys.config import BlendConfig, BlendWeights


def ids(answer) -> list[str]:
    return [r.product_id for r in answer.results]


def test_user_gets_the_obvious_next_item(tiny_rec):
    answer = tiny_rec.for_user("u_coffee", k=3)
    assert ids(answer)[0] == "c3"  # the only unseen coffee product
    assert answer.strategy == "personal" and answer.fallback is None
    assert "c1" not in ids(answer) and "c2" not in ids(answer)  # seen items excluded by default


def test_runner_and_reader(tiny_rec):
    assert ids(tiny_rec.for_user("u_run", k=1)) == ["r3"]
    assert ids(tiny_rec.for_user("u_book", k=2))[0] == "b3"


def test_seen_items_can_be_included(tiny_rec):
    assert "c1" in ids(tiny_rec.for_user("u_coffee", k=9, exclude_seen=False))


def test_one_star_review_does_not_pull_toward_similar_products(tiny_rec):
    top = ids(tiny_rec.for_user("u_hater", k=3))
    assert top[0].startswith("b")
    assert not any(p.startswith("c") for p in top[:2])


def test_only_negative_history_falls_back_to_popular(tiny_rec):
    answer = tiny_rec.for_user("u_neg", k=3)
    assert answer.fallback == "popular" and answer.strategy == "popular"
    assert "c1" not in ids(answer)


def test_unknown_user_raises_with_hint_or_falls_back(tiny_rec):
    with pytest.raises(UnknownUserError, match="cold start"):
        tiny_rec.for_user("nobody")
    answer = tiny_rec.for_user("nobody", k=2, on_unknown="fallback")
    assert answer.fallback == "popular" and len(answer.results) == 2


def test_unknown_user_with_texts_uses_text_fallback(tiny_rec):
    answer = tiny_rec.for_user("nobody", k=1, texts=["mystery novel"])
    assert answer.fallback == "text"
    assert ids(answer)[0] in {"b1", "b3"}


def test_filters_category_and_price(tiny_rec):
    answer = tiny_rec.for_user("u_coffee", k=5, filters=Filters(category="running", max_price=100))
    assert set(ids(answer)) == {"r1", "r2"}
    none = tiny_rec.for_user("u_coffee", k=5, filters=Filters(min_price=1000))
    assert none.results == []


def test_similar_items_excludes_itself(tiny_rec):
    answer = tiny_rec.similar_items("r1", k=2)
    assert "r1" not in ids(answer)
    assert all(p.startswith("r") for p in ids(answer))
    with pytest.raises(UnknownItemError):
        tiny_rec.similar_items("nope")


def test_for_text_cold_start(tiny_rec):
    answer = tiny_rec.for_text(["gps watch for running"], k=1)
    assert ids(answer) == ["r3"] and answer.strategy == "text"
    empty = tiny_rec.for_text(["   "], k=2)
    assert empty.fallback == "popular"


def test_results_carry_parts_that_sum_to_score(tiny_rec):
    for r in tiny_rec.for_user("u_coffee", k=5).results:
        assert r.parts.keys() >= {"cosine", "popularity", "cooc"}
        assert sum(r.parts.values()) == pytest.approx(r.score, abs=1e-4)


def test_because_names_a_history_item(tiny_rec):
    top = tiny_rec.for_user("u_coffee", k=1).results[0]
    assert top.because is not None and "coffee" in top.because


def test_cooc_weight_changes_the_order(tiny_rec):
    # b3 co-occurs with b1; with cosine off and only co-occurrence on, b3 must lead for u_book.
    cfg = BlendConfig(weights=BlendWeights(cosine=0, popularity=0, trending=0, rating=0, cooc=1))
    rec = Recommender(tiny_rec.art, config=cfg, encoder=tiny_rec.encoder)
    top = rec.for_user("u_book", k=1).results[0]
    assert top.product_id == "b3" and top.parts["cooc"] == pytest.approx(1.0)
    assert rec.for_user("u_book", k=1).config_id == cfg.id != tiny_rec.config.id


def test_mmr_diversifies(tiny_rec):
    plain = Recommender(tiny_rec.art, config=BlendConfig(), encoder=tiny_rec.encoder)
    diverse = Recommender(tiny_rec.art, config=BlendConfig(mmr_lambda=0.3), encoder=tiny_rec.encoder)
    def cats(rec):
        return {p[0] for p in ids(rec.for_text(["coffee espresso"], k=3))}
    assert len(cats(diverse)) >= len(cats(plain))
    assert len(cats(diverse)) >= 2


def test_search_only_user_gets_text_profile(tiny_rec):
    answer = tiny_rec.for_user("u_search", k=1)
    assert answer.strategy == "personal" and ids(answer) == ["r3"]


def test_user_vectors_are_unit_length(tiny_rec):
    norms = np.linalg.norm(tiny_rec.art.user_vectors, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5)


def test_narrow_category_filter_still_finds_its_items(tmp_path):
    """Regression: a category holding a few items far from the user's taste answered nothing, since the
    filter only ever saw the over-fetched cosine neighbours (the README's `category=accessories` call on the
    Gift Cards sample: 28 accessories among 1,547 products)."""
    import pandas as pd

    from recsys.build.pipeline import BuildOptions, build_index
    from recsys.data.dataset import make_dataset
    from recsys.encoders import make_encoder

    coffee = [(f"c{i}", f"espresso coffee beans roast {i}", "Grocery > Coffee", 10.0 + i) for i in range(40)]
    books = [("b1", "mystery novel hardcover", "Books > Fiction", 9.0),
             ("b2", "poetry paperback", "Books > Poetry", 7.0)]
    rows = coffee + books
    products = pd.DataFrame({"product_id": [r[0] for r in rows], "title": [r[1] for r in rows], "description": "",
                             "category": [r[2] for r in rows], "brand": "", "price": [r[3] for r in rows]})
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    events = pd.DataFrame({"user_id": ["u"] * 3 + ["v"], "product_id": ["c0", "c1", "c2", "c3"],
                           "event_type": "purchase", "timestamp": [t0 + pd.Timedelta(days=d) for d in range(4)],
                           "rating": None, "text": ""})
    build_index(make_dataset(products, events, "narrow"), tmp_path / "idx", make_encoder("hashing-256"),
                BuildOptions(progress=False, ranker="blend"))
    rec = Recommender.load(tmp_path / "idx").with_config(BlendConfig(candidates=10, extra_candidates=0))
    assert set(ids(rec.for_user("u", k=5, filters=Filters(category="books")))) == {"b1", "b2"}
    assert ids(rec.for_user("u", k=5, filters=Filters(category="books", max_price=8))) == ["b2"]
    assert ids(rec.for_text(["espresso"], k=1, filters=Filters(category="poetry"))) == ["b2"]


def test_similar_items_search_with_the_parameters_tuned_for_item_queries(tiny_rec):
    """A version whose manifest tunes item queries separately searches similar items through a view with
    those parameters, and every other lookup with the index's own."""
    from dataclasses import replace

    from recsys.index import FaissIndex, IndexSpec

    art = tiny_rec.art
    index = FaissIndex.build(np.asarray(art.item_vectors), IndexSpec("HNSW32,Flat", {"efSearch": 64}))
    manifest = art.manifest.model_copy(update={"index": art.manifest.index.model_copy(
        update={"item_search_params": {"efSearch": 16}})})
    rec = Recommender(replace(art, index=index, manifest=manifest))
    assert rec.item_ranker is not rec.ranker and rec.ranker.ranker.index is index
    assert rec.item_ranker.ranker.index.params == {"efSearch": 16} and index.spec.search_params == {"efSearch": 64}
    assert ids(rec.similar_items("r1", k=2)) == ids(tiny_rec.similar_items("r1", k=2))
    plain = Recommender(replace(art, index=index))
    assert plain.item_ranker is plain.ranker
