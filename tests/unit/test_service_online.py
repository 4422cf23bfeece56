"""Online reflection of events: profiles recomputed with the build's pure code, live popularity and
trending counters, and the readable portrait."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.artifacts import POSITION, WEIGHT
from recsys.data import schema as S
from recsys.data.dataset import empty_events, normalize_events
from recsys.encoders import make_encoder
from recsys.explain.portraits import portrait
from recsys.features.live import built_weights, effective_popularity
from recsys.online.profiles import TextVectors, merge_history, online_user
from recsys.service.tenants import load_served


class _NoStore:
    def received_since(self, tenant, since):
        return empty_events().assign(seq=pd.Series(dtype="int64"))

    def last_seq(self, tenant):
        return 0


@pytest.fixture()
def served(tiny_index: Path):
    return load_served(tiny_index, "t", _NoStore())


def _ev(user: str, pid: str | None, etype: str, day: int = 40, text: str = "", rating: float | None = None):
    return normalize_events(pd.DataFrame({
        S.USER_ID: [user], S.PRODUCT_ID: [pid], S.EVENT_TYPE: [etype],
        S.TIMESTAMP: [pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=day)],
        S.RATING: [rating], S.TEXT: [text]}))


def test_no_new_events_reproduces_the_built_profile(served):
    art = served.art
    for user in ("u_coffee", "u_hater", "u_search"):
        state = online_user(user, art, empty_events(), art.config, served.texts)
        assert np.allclose(state.vector, art.user_vector(user), atol=1e-5)


def test_stored_copies_of_indexed_events_are_not_counted_twice(served):
    art = served.art
    indexed = art.user_history("u_coffee")
    merged = merge_history(indexed, indexed[list(S.EVENT_COLUMNS)], art)
    assert len(merged) == len(indexed)


def test_a_purchase_moves_the_profile_toward_the_item(served):
    art = served.art
    before = art.user_vector("u_coffee")
    after = online_user("u_coffee", art, _ev("u_coffee", "r3", "purchase"), art.config, served.texts)
    r3 = art.item_vectors[art.product_position("r3")]
    assert after.vector @ r3 > before @ r3 + 0.05
    assert art.product_position("r3") in after.history[POSITION].tolist()
    assert after.live_events == 1


def test_new_search_text_is_encoded_online_for_a_new_user(served):
    art = served.art
    state = online_user("newbie", art, _ev("newbie", None, "search", text="gps running watch"), art.config,
                        served.texts)
    assert state.vector is not None
    best = int(np.argmax(art.item_vectors @ state.vector))
    assert art.products[S.PRODUCT_ID].iat[best] == "r3"


def test_text_vectors_reuse_stored_vectors_and_cache_new_ones(served):
    calls: list[list[str]] = []
    enc = make_encoder("hashing-256")

    class Spy:
        dim = enc.dim

        def encode(self, texts, kind):
            calls.append(list(texts))
            return enc.encode(texts, kind=kind)

    tv = TextVectors(served.art, Spy())  # type: ignore[arg-type]
    tv.get(["great espresso coffee"])  # encoded at build time
    assert calls == []
    tv.get(["brand new words", "brand new words"])
    tv.get(["brand new words"])
    assert calls == [["brand new words"]]


def test_live_counters_lift_popularity_and_trending(served):
    live, art = served.live, served.art
    p = art.product_position("r3")
    stored = art.features.signals
    pop0, trend0 = float(stored.popularity[p]), float(stored.trending[p])
    events = pd.concat([_ev(f"x{i}", "r3", "purchase") for i in range(20)], ignore_index=True)
    assert live.apply(events) == 1
    assert live.signals.popularity[p] > pop0 and live.signals.trending[p] > trend0
    assert p in live.popular_order[:3].tolist()
    # the loaded version itself is never changed by live counters
    assert float(stored.popularity[p]) == pop0 and float(stored.trending[p]) == trend0
    # the same user buying again is one distinct user: no further lift
    pop1 = float(live.signals.popularity[p])
    live.apply(_ev("x0", "r3", "purchase"))
    assert float(live.signals.popularity[p]) == pop1


def test_effective_popularity_is_the_built_value_without_live_events():
    base = np.array([0.0, 0.5, 1.0], np.float32)
    built = built_weights(base, 10.0)
    assert np.allclose(effective_popularity(built, np.zeros(3), 10.0), base, atol=1e-6)
    live = np.array([0.0, 30.0, 0.0])
    lifted = effective_popularity(built, live, float((built + live).max()))
    assert lifted[1] == pytest.approx(1.0) and lifted[2] < 1.0  # a new maximum rescales the rest


def test_portrait_names_categories_terms_and_items_with_weights(served):
    art = served.art
    hist = art.user_history("u_hater")
    body = portrait("u_hater", hist, art.user_vector("u_hater"), art)
    assert body["categories"][0]["category"] == "Books > Fiction"
    items = {i["product_id"]: i for i in body["items"]}
    assert items["c2"]["weight"] < 0 < items["b2"]["weight"]  # the 1-star review pushes away
    assert items["b2"]["contribution"] > 0 and items["c2"]["contribution"] > 0  # both shape the vector
    assert "novel" in {t["term"] for t in body["terms"]}
    assert sum(c["weight"] for c in body["categories"]) == pytest.approx(1.0, abs=1e-3)
    assert WEIGHT in hist.columns
