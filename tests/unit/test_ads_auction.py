"""The auction's pure decisions: eligibility reasons, pacing, frequency caps, floor, eCPM order, dedupe."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.ads.auction import (
    AdCandidate,
    AdParams,
    CampaignSpend,
    ecpm,
    event_cost,
    exclusion_reason,
    pacing_allowance,
    run_auction,
)
from recsys.ads.pctr import DEFAULT_CTR, fit_ctr
from recsys.campaigns.campaign import Campaign

NOON = pd.Timestamp("2026-03-01T12:00:00Z")
P = AdParams(relevance_floor=0.3, max_ads=3, frequency_cap=2, pacing_slack=0.1)


def camp(cid: str, **kw) -> Campaign:
    return Campaign(campaign_id=cid, bid_type=kw.pop("bid_type", "cpc"), bid=kw.pop("bid", 1.0), **kw)


def test_costs_and_ecpm():
    cpc, cpm = camp("a", bid=2.0), camp("b", bid_type="cpm", bid=5.0)
    assert (event_cost(cpc, "click"), event_cost(cpc, "impression")) == (2.0, 0.0)
    assert (event_cost(cpm, "impression"), event_cost(cpm, "click")) == (0.005, 0.0)
    assert ecpm(cpc, 0.01) == pytest.approx(20.0) and ecpm(cpm, 0.5) == 5.0


def test_pacing_spreads_the_daily_budget_over_the_day():
    assert pacing_allowance(100.0, NOON, 0.1) == pytest.approx(60.0)
    assert pacing_allowance(100.0, pd.Timestamp("2026-03-01T23:00:00Z"), 0.1) == pytest.approx(100.0)
    c = camp("a", daily_budget=100.0)
    assert exclusion_reason(c, CampaignSpend(59.0, 59.0), 0, NOON, P) is None
    assert exclusion_reason(c, CampaignSpend(60.0, 60.0), 0, NOON, P).startswith("paced")


@pytest.mark.parametrize(("campaign", "spend", "seen", "reason"), [
    (camp("a", status="paused"), CampaignSpend(), 0, "paused"),
    (camp("a", end=pd.Timestamp("2026-01-01", tz="UTC")), CampaignSpend(), 0, "outside"),
    (camp("a", start=pd.Timestamp("2026-04-01", tz="UTC")), CampaignSpend(), 0, "outside"),
    (camp("a", total_budget=10.0), CampaignSpend(0.0, 9.5), 0, "total budget spent"),
    (camp("a", daily_budget=10.0), CampaignSpend(9.5, 9.5), 0, "daily budget spent"),
    (camp("a"), CampaignSpend(), 2, "frequency cap"),
    (camp("a", frequency_cap=5), CampaignSpend(), 4, None),
    (camp("a", bid_type="cpm", bid=1.0, total_budget=10.0), CampaignSpend(0.0, 9.5), 0, None),
])
def test_exclusion_reasons(campaign, spend, seen, reason):
    got = exclusion_reason(campaign, spend, seen, NOON, P)
    assert (got is None) if reason is None else got.startswith(reason)


def test_auction_orders_by_ecpm_applies_floor_organic_and_advertiser_dedupe():
    cands = [
        AdCandidate(camp("low_rel", bid=100.0), 0.1, ("p9",)),          # a huge bid, irrelevant: floor
        AdCandidate(camp("cheap", bid=0.5, advertiser="A"), 0.9, ("p1",)),
        AdCandidate(camp("rich", bid=5.0, advertiser="A"), 0.6, ("p2",)),  # same advertiser, higher eCPM
        AdCandidate(camp("cpm", bid_type="cpm", bid=80.0, advertiser="B"), 0.5, ("p3", "p4")),
        AdCandidate(camp("dup", bid=1.0, advertiser="C"), 0.8, ("p5",)),
    ]
    res = run_auction(cands, {}, {}, frozenset({"p3", "p5"}), NOON, DEFAULT_CTR, P)
    ids = [w.campaign.campaign_id for w in res.winners]
    assert ids[0] == "cpm" and res.winners[0].product_id == "p4"  # p3 is organic: next landing product
    assert "rich" in ids and "cheap" not in ids
    assert res.excluded["cheap"].startswith("another ad of the same advertiser")
    assert res.excluded["low_rel"].startswith("relevance 0.10 below")
    assert res.excluded["dup"].startswith("its landing products are already")
    ecpms = [w.ecpm for w in res.winners]
    assert ecpms == sorted(ecpms, reverse=True)


def test_ctr_fit_recovers_a_known_logistic_and_falls_back_without_evidence():
    rng = np.random.default_rng(0)
    rel = rng.uniform(0, 1, 4000)
    true = 1 / (1 + np.exp(-(-5.0 + 4.0 * rel)))
    imps = np.full(4000, 20)
    clicks = rng.binomial(imps, true)
    m = fit_ctr(rel, imps, clicks)
    assert m.fitted and m.intercept == pytest.approx(-5.0, abs=0.15) and m.slope == pytest.approx(4.0, abs=0.25)
    sparse = fit_ctr(rel[:10], np.ones(10), np.zeros(10))
    assert not sparse.fitted and "below" in sparse.note
    assert DEFAULT_CTR.predict(0.2) == pytest.approx(0.002) and DEFAULT_CTR.predict(0.8) == pytest.approx(0.03)
    flat = fit_ctr(rel, imps, rng.binomial(imps, 1 / (1 + np.exp(-(-2.0 - 1.0 * rel)))))
    assert not flat.fitted and "not positive" in flat.note
