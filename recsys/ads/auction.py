"""The ad auction: pure decisions, no I/O. Which campaigns may serve now, and which win.

Order of checks for each candidate campaign (the first failing one is the reason it is excluded):
status → time window → total budget → daily budget → even pacing → frequency cap → relevance floor
(absolute cosine, and a percentile of the query's similarity to the catalogue) → a landing product not already
among the organic results → one ad per advertiser.
Winners are ranked by eCPM: pCTR × bid × 1000 for CPC, the bid itself for CPM.

Even pacing: by time t of the UTC day a campaign may have spent at most
``daily_budget × min(1, elapsed_fraction(t) + slack)``, so a budget is spread over the day instead
of being exhausted by the first morning's traffic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from recsys.ads.pctr import CtrModel
from recsys.campaigns.campaign import Campaign

__all__ = ["AdParams", "CampaignSpend", "AdCandidate", "AdWin", "AuctionResult", "exclusion_reason",
           "pacing_allowance", "run_auction", "ecpm", "event_cost"]


@dataclass(frozen=True)
class AdParams:
    #: Minimum cosine between the query (user / text / product) and the campaign: below it no bid wins.
    relevance_floor: float = 0.2
    #: The campaign must also be closer to the query than this share of the catalogue's products. Cosine
    #: scales differ by domain and encoder (in a catalogue of gift cards, every gift card is "similar"),
    #: so the absolute floor alone lets an off-topic ad win on bid; the percentile adapts to the domain.
    min_percentile: float = 0.8
    max_ads: int = 2
    #: Impressions of one campaign per user within the window (a campaign's `frequency_cap` overrides it).
    frequency_cap: int = 3
    frequency_window_hours: float = 24.0
    pacing_slack: float = 0.1
    #: Nearest campaigns considered per request.
    candidates: int = 50


@dataclass(frozen=True)
class CampaignSpend:
    today: float = 0.0
    total: float = 0.0


@dataclass(frozen=True)
class AdCandidate:
    campaign: Campaign
    relevance: float
    #: Landing product ids ordered by relevance to the query (best first); empty for product-less ads.
    landing_order: tuple[str, ...] = ()
    #: Share of catalogue products less similar to the query than this campaign (1.0 when unknown).
    percentile: float = 1.0


@dataclass(frozen=True)
class AdWin:
    campaign: Campaign
    relevance: float
    pctr: float
    ecpm: float
    product_id: str | None


@dataclass(frozen=True)
class AuctionResult:
    winners: list[AdWin]
    excluded: dict[str, str]  # campaign_id → reason


def event_cost(c: Campaign, event_type: str) -> float:
    """What one ad event costs the advertiser: CPM pays per impression, CPC per click."""
    if c.bid_type == "cpm":
        return c.bid / 1000.0 if event_type == "impression" else 0.0
    return c.bid if event_type == "click" else 0.0


def ecpm(c: Campaign, pctr: float) -> float:
    return c.bid if c.bid_type == "cpm" else pctr * c.bid * 1000.0


def pacing_allowance(daily_budget: float, now: pd.Timestamp, slack: float) -> float:
    day_start = now.tz_convert("UTC").normalize()
    elapsed = (now - day_start).total_seconds() / 86400.0
    return daily_budget * min(1.0, elapsed + slack)


def exclusion_reason(c: Campaign, spend: CampaignSpend, user_impressions: int, now: pd.Timestamp,
                     params: AdParams) -> str | None:
    """Why campaign `c` may not serve this request, or None when it may."""
    if c.status != "active":
        return "paused"
    if not c.live_at(now):
        return "outside its start/end window"
    next_cost = c.bid / 1000.0 if c.bid_type == "cpm" else c.bid  # the most one more event can cost
    if c.total_budget is not None and spend.total + next_cost > c.total_budget + 1e-9:
        return "total budget spent"
    if c.daily_budget is not None:
        if spend.today + next_cost > c.daily_budget + 1e-9:
            return "daily budget spent"
        if spend.today >= pacing_allowance(c.daily_budget, now, params.pacing_slack):
            return "paced: ahead of its even daily schedule"
    cap = c.frequency_cap if c.frequency_cap is not None else params.frequency_cap
    if user_impressions >= cap:
        return f"frequency cap: {user_impressions} impressions in {params.frequency_window_hours:g} h"
    return None


def run_auction(candidates: Sequence[AdCandidate], spend: Mapping[str, CampaignSpend],
                user_impressions: Mapping[str, int], organic: frozenset[str] | set[str], now: pd.Timestamp,
                ctr: CtrModel, params: AdParams) -> AuctionResult:
    excluded: dict[str, str] = {}
    scored: list[AdWin] = []
    for cand in candidates:
        c = cand.campaign
        reason = exclusion_reason(c, spend.get(c.campaign_id, CampaignSpend()),
                                  user_impressions.get(c.campaign_id, 0), now, params)
        if reason is None and cand.relevance < params.relevance_floor:
            reason = f"relevance {cand.relevance:.2f} below the floor {params.relevance_floor:.2f}"
        if reason is None and cand.percentile < params.min_percentile:
            reason = (f"relevance {cand.relevance:.2f} is below the floor: closer to the query than only "
                      f"{cand.percentile:.0%} of the catalogue (needs {params.min_percentile:.0%})")
        product: str | None = None
        if reason is None and cand.landing_order:
            product = next((p for p in cand.landing_order if p not in organic), None)
            if product is None:
                reason = "its landing products are already among the organic results"
        if reason is not None:
            excluded[c.campaign_id] = reason
            continue
        p = float(ctr.predict(cand.relevance))
        scored.append(AdWin(c, cand.relevance, p, ecpm(c, p), product))
    scored.sort(key=lambda w: (-w.ecpm, -w.relevance, w.campaign.campaign_id))
    winners: list[AdWin] = []
    advertisers: set[str] = set()
    products: set[str] = set()
    for w in scored:
        if len(winners) >= params.max_ads:
            break
        if w.campaign.advertiser_key in advertisers:
            excluded[w.campaign.campaign_id] = "another ad of the same advertiser ranks higher"
            continue
        if w.product_id is not None and w.product_id in products:
            excluded[w.campaign.campaign_id] = "its landing product is already advertised in this answer"
            continue
        advertisers.add(w.campaign.advertiser_key)
        if w.product_id is not None:
            products.add(w.product_id)
        winners.append(w)
    return AuctionResult(winners, excluded)
