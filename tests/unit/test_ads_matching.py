"""Ad matching end to end on the tiny index (hashing encoder): campaign vectors, ledger, the auction,
ads beside organic results, and spending a budget down until the campaign stops."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from recsys.ads.answer import ads_beside
from recsys.ads.auction import AdParams
from recsys.ads.ledger import AdLedger
from recsys.ads.matcher import AdMatcher
from recsys.campaigns import campaign_vectors, parse_campaigns
from recsys.data import schema as S
from recsys.errors import DataValidationError
from recsys.store import CAMPAIGN_ID

NOW = pd.Timestamp("2026-03-01T12:00:00Z")
PARAMS = AdParams(relevance_floor=0.05, max_ads=3, frequency_cap=2, min_percentile=0.0)


def campaigns(**over):
    rows = [
        dict(campaign_id="mugs", advertiser="cafe", landing_product_ids=["c3", "c2"], bid_type="cpc", bid=1.0,
             total_budget=2.0, keywords=["espresso", "coffee"]),
        dict(campaign_id="novels", advertiser="press", headline="detective mystery novels", bid_type="cpm",
             bid=4.0),
        dict(campaign_id="shoes", advertiser="run", landing_product_ids=["r1"], bid_type="cpc", bid=0.8,
             status="paused"),
        dict(campaign_id="look", advertiser="other", seed_user_ids=["u_x1", "u_x2", "nobody"], bid_type="cpm",
             bid=1.0),
    ]
    for r in rows:
        r.update(over.get(r["campaign_id"], {}))
    return parse_campaigns(pd.DataFrame(rows))


def ad_events(*rows) -> pd.DataFrame:
    return pd.DataFrame({CAMPAIGN_ID: [r[0] for r in rows], S.USER_ID: [r[1] for r in rows],
                         S.EVENT_TYPE: [r[2] for r in rows], S.TIMESTAMP: [NOW - pd.Timedelta(hours=1)] * len(rows)})


@pytest.fixture()
def matcher(tiny_rec):
    return AdMatcher.build(tiny_rec.art, campaigns(), tiny_rec.encoder, params=PARAMS)


def test_campaign_vectors_are_unit_and_lookalike_uses_known_seeds(tiny_rec):
    cv = campaign_vectors(campaigns(), tiny_rec.art, tiny_rec.encoder)
    assert np.allclose(np.linalg.norm(cv.vectors, axis=1), 1.0, atol=1e-5)
    look = cv.vectors[cv.index_of("look")]
    seeds = np.mean([tiny_rec.art.user_vector(u) for u in ("u_x1", "u_x2")], axis=0)
    assert np.allclose(look, seeds / np.linalg.norm(seeds), atol=1e-5)
    assert any("1 of 3 seed users" in w for w in cv.warnings)
    assert cv.copies[cv.index_of("mugs")].generated  # copy made from the landing products


def test_a_campaign_that_resolves_to_nothing_is_an_error(tiny_rec):
    bad = parse_campaigns(pd.DataFrame([dict(campaign_id="ghost", landing_product_ids=["nope"], bid_type="cpc",
                                             bid=1.0)]))
    with pytest.raises(DataValidationError, match="campaign 'ghost': no landing product"):
        campaign_vectors(bad, tiny_rec.art, tiny_rec.encoder)


def test_text_context_ranks_relevant_ads_and_never_repeats_organic_items(tiny_rec, matcher):
    answer = tiny_rec.for_text(["espresso coffee mug"], 1)
    assert answer.results[0].product_id == "c3"
    ads = ads_beside(matcher, tiny_rec, answer, n_ads=3, texts=["espresso coffee mug"], now=NOW)
    by_id = {a.campaign_id: a for a in ads.ads}
    assert "mugs" in by_id and by_id["mugs"].product_id == "c2"  # c3 is the organic answer
    assert "shoes" not in by_id and ads.excluded.get("shoes") in (None, "paused")
    assert all(a.product_id not in {"c3"} for a in ads.ads)
    assert "espresso coffee mug" in by_id["mugs"].why


def test_user_context_skips_seen_products_and_explains_with_history(tiny_rec, matcher):
    answer = tiny_rec.for_user("u_coffee", 1)
    hist = tiny_rec.art.user_history("u_coffee")["position"].to_numpy()
    ads = ads_beside(matcher, tiny_rec, answer, n_ads=3, user_vector=tiny_rec.art.user_vector("u_coffee"),
                     history_pos=hist, now=NOW)
    seen = {"c1", "c2"}
    organic = {r.product_id for r in answer.results}
    assert all(a.product_id not in seen | organic for a in ads.ads)
    mugs = ads.excluded.get("mugs", "")
    assert "mugs" not in {a.campaign_id for a in ads.ads} and mugs.startswith("its landing products")


def test_budget_is_spent_down_by_clicks_until_the_campaign_stops(tiny_rec, matcher):
    def served_ids():
        answer = tiny_rec.for_text(["espresso coffee mug"], 1)
        return {a.campaign_id for a in ads_beside(matcher, tiny_rec, answer, n_ads=3,
                                                  texts=["espresso coffee mug"], now=NOW).ads}

    assert "mugs" in served_ids()
    matcher.ledger.apply(ad_events(("mugs", "u1", "click")))
    assert matcher.ledger.spend("mugs", NOW).total == pytest.approx(1.0)
    assert "mugs" in served_ids()  # 1.0 spent + 1.0 for one more click fits the 2.0 budget
    matcher.ledger.apply(ad_events(("mugs", "u2", "click")))
    assert "mugs" not in served_ids()


def test_frequency_cap_is_per_user_and_windowed(tiny_rec):
    ledger = AdLedger({c.campaign_id: c for c in campaigns()}, pd.Timedelta(hours=24))
    ledger.apply(ad_events(("novels", "u_book", "impression"), ("novels", "u_book", "impression")))
    old = ad_events(("novels", "u_x3", "impression")).assign(**{S.TIMESTAMP: [NOW - pd.Timedelta(days=2)]})
    ledger.apply(old)
    assert ledger.impressions("u_book", NOW) == {"novels": 2}
    assert ledger.impressions("u_x3", NOW) == {"novels": 0}
    assert ledger.spend("novels", NOW).total == pytest.approx(3 * 4.0 / 1000)
    m = AdMatcher(tiny_rec.art, campaign_vectors(campaigns(), tiny_rec.art, tiny_rec.encoder), ledger,
                  replace(PARAMS, relevance_floor=-1.0))
    q = tiny_rec.text_vector(["mystery novel"])
    capped = m.match(q, context="text", user_id="u_book", now=NOW)
    assert "novels" not in {a.campaign_id for a in capped.ads}
    assert capped.excluded["novels"].startswith("frequency cap")
    fresh = m.match(q, context="text", user_id="u_x3", now=NOW)
    assert "novels" in {a.campaign_id for a in fresh.ads}


def test_relevance_floor_stops_irrelevant_ads_whatever_the_bid(tiny_rec):
    rich = campaigns(novels={"bid": 10_000.0})
    m = AdMatcher.build(tiny_rec.art, rich, tiny_rec.encoder, params=replace(PARAMS, relevance_floor=0.3))
    got = m.match(tiny_rec.text_vector(["gps running watch"]), context="text", now=NOW)
    assert "novels" not in {a.campaign_id for a in got.ads}
    assert "below the floor" in got.excluded["novels"]


def test_percentile_floor_adapts_to_the_catalogue(tiny_rec):
    m = AdMatcher.build(tiny_rec.art, campaigns(), tiny_rec.encoder,
                        params=replace(PARAMS, relevance_floor=-1.0, min_percentile=0.95))
    q = tiny_rec.text_vector(["gps running watch"])
    got = m.match(q, context="text", now=NOW)
    assert "novels" not in {a.campaign_id for a in got.ads}
    assert "of the catalogue" in got.excluded["novels"]
    loose = replace(m.params, min_percentile=0.0)
    m.params = loose
    assert "novels" in {a.campaign_id for a in m.match(q, context="text", now=NOW).ads}
