"""Ads with the real bundled encoder on the shipped sample: the relevant campaign wins for a query, and
an irrelevant one with a far higher bid does not."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from recsys.ads.answer import ads_beside
from recsys.ads.matcher import AdMatcher
from recsys.campaigns import parse_campaigns
from recsys.recommender import Recommender

pytestmark = pytest.mark.slow


def test_relevance_beats_bid_on_real_text(sample_index: Path):
    rec = Recommender.load(sample_index)
    camps = parse_campaigns(pd.DataFrame([
        dict(campaign_id="coffee", advertiser="starbucks", landing_product_ids=["B002MS7BPA", "B00AR51Y5I"],
             keywords=["coffee", "latte"], bid_type="cpc", bid=0.5),
        dict(campaign_id="games", advertiser="xbox", landing_product_ids=["B0093DHOA4"], keywords=["gaming"],
             bid_type="cpc", bid=50.0),
    ]))
    matcher = AdMatcher.build(rec.art, camps, rec.encoder)
    texts = ["a gift card for my sister who loves coffee and lattes"]
    answer = rec.for_text(texts, 5)
    ads = ads_beside(matcher, rec, answer, n_ads=2, texts=texts)
    won = [a.campaign_id for a in ads.ads]
    assert won and won[0] == "coffee", (won, ads.excluded)
    assert "games" not in won and "below the floor" in ads.excluded["games"]
    organic = {r.product_id for r in answer.results}
    assert all(a.product_id not in organic for a in ads.ads)
