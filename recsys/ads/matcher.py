"""Online ad matching: campaign vectors in their own FAISS index, the auction, and why each ad matched.

`AdMatcher.match` takes the query vector of the context — a user's profile, free text, or a product
page's item vector — finds the nearest campaigns, orders each campaign's landing products by
relevance, reads spend and frequency from the ledger, and runs the pure auction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from recsys.ads.auction import AdCandidate, AdParams, run_auction
from recsys.ads.ledger import AdLedger
from recsys.ads.pctr import DEFAULT_CTR, CtrModel, fit_ctr
from recsys.artifacts import Artifacts
from recsys.campaigns.campaign import Campaign
from recsys.campaigns.vectors import CampaignVectors, campaign_vectors
from recsys.encoders import Encoder
from recsys.index import FaissIndex, choose_index

__all__ = ["AdMatch", "AdAnswer", "AdMatcher", "Context"]

Context = Literal["user", "text", "item"]
#: Product vectors sampled to place a campaign's relevance among the catalogue's (one small matvec).
PERCENTILE_SAMPLE = 2048


@dataclass(frozen=True)
class AdMatch:
    campaign_id: str
    advertiser: str
    headline: str
    body: str
    product_id: str | None
    product_title: str | None
    relevance: float
    pctr: float
    ecpm: float
    bid_type: str
    bid: float
    why: str


@dataclass(frozen=True)
class AdAnswer:
    ads: list[AdMatch]
    excluded: dict[str, str] = field(default_factory=dict)
    ctr: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class AdMatcher:
    def __init__(self, art: Artifacts, cv: CampaignVectors, ledger: AdLedger, params: AdParams = AdParams(),
                 ctr: CtrModel = DEFAULT_CTR) -> None:
        self.art, self.cv, self.ledger, self.params, self.ctr = art, cv, ledger, params, ctr
        self.index = FaissIndex.build(cv.vectors, choose_index(len(cv.vectors), cv.vectors.shape[1]))
        # A fixed random sample of product vectors: the reference for each request's relevance percentile.
        rng = np.random.default_rng(0)
        n = len(art.item_vectors)
        self._reference = art.item_vectors[np.sort(rng.choice(n, size=min(n, PERCENTILE_SAMPLE), replace=False))]

    @classmethod
    def build(cls, art: Artifacts, campaigns: Sequence[Campaign], encoder: Encoder, *,
              ad_events: pd.DataFrame | None = None, params: AdParams = AdParams()) -> AdMatcher:
        """Encode campaigns, replay their ad events into a ledger and fit pCTR when there is evidence."""
        cv = campaign_vectors(campaigns, art, encoder)
        ledger = AdLedger({c.campaign_id: c for c in campaigns}, pd.Timedelta(hours=params.frequency_window_hours))
        if ad_events is not None:
            ledger.apply(ad_events)
        matcher = cls(art, cv, ledger, params)
        matcher.refit_ctr()
        return matcher

    @property
    def campaigns(self) -> tuple[Campaign, ...]:
        return self.cv.campaigns

    def refit_ctr(self) -> CtrModel:
        """Fit pCTR on the ledger's (user, campaign) evidence; relevance = cosine(profile, campaign)."""
        keys, imps, clicks = self.ledger.evidence()
        rel, keep = [], []
        for i, (user, cid) in enumerate(keys):
            vec = self.art.user_vector(user)
            if vec is None:
                continue
            rel.append(float(vec @ self.cv.vectors[self.cv.index_of(cid)]))
            keep.append(i)
        idx = np.asarray(keep, dtype=np.int64)
        kept_imps, kept_clicks = (imps[idx], clicks[idx]) if len(idx) else (imps[:0], clicks[:0])
        self.ctr = fit_ctr(np.asarray(rel), kept_imps, kept_clicks)
        return self.ctr

    def match(self, query: np.ndarray | None, *, context: Context, detail: str = "", user_id: str | None = None,
              organic: Sequence[str] = (), history_pos: np.ndarray | None = None, now: pd.Timestamp | None = None,
              k: int | None = None) -> AdAnswer:
        if query is None or not len(self.cv.campaigns):
            return AdAnswer([], {}, self.ctr.describe())
        now = now if now is not None else pd.Timestamp.now(tz="UTC")
        params = self.params if k is None else AdParams(**{**asdict(self.params), "max_ads": k})
        q = np.asarray(query, np.float32).reshape(1, -1)
        scores, ids = self.index.search(q, min(params.candidates, len(self.cv.campaigns)))
        reference = np.sort(self._reference @ q[0])
        cands = []
        for s, i in zip(scores[0].tolist(), ids[0].tolist(), strict=True):
            if i < 0:
                continue
            land = self.cv.landing[i]
            order = land[np.argsort(-(self.art.item_vectors[land] @ q[0]), kind="stable")] if len(land) else land
            pct = float(np.searchsorted(reference, s, side="left") / max(len(reference), 1)) if len(reference) else 1.0
            cands.append(AdCandidate(self.cv.campaigns[i], float(s),
                                     tuple(str(self.art.product_ids[p]) for p in order.tolist()), pct))
        impressions = self.ledger.impressions(user_id, now) if user_id else {}
        spend = {c.campaign.campaign_id: self.ledger.spend(c.campaign.campaign_id, now) for c in cands}
        result = run_auction(cands, spend, impressions, frozenset(organic), now, self.ctr, params)
        ads = [self._ad(w, context, detail, history_pos) for w in result.winners]
        return AdAnswer(ads, result.excluded, self.ctr.describe())

    def _ad(self, w, context: Context, detail: str, history_pos: np.ndarray | None) -> AdMatch:
        c: Campaign = w.campaign
        i = self.cv.index_of(c.campaign_id)
        copy = self.cv.copies[i]
        pos = self.art.product_position(w.product_id) if w.product_id else None
        title = None if pos is None else str(self.art.titles[pos])
        return AdMatch(c.campaign_id, c.advertiser, copy.headline, copy.body, w.product_id, title,
                       round(w.relevance, 6), round(w.pctr, 6), round(w.ecpm, 6), c.bid_type, c.bid,
                       self._why(i, c, w.relevance, context, detail, history_pos))

    def _why(self, i: int, c: Campaign, rel: float, context: Context, detail: str,
             history_pos: np.ndarray | None) -> str:
        if c.is_lookalike:
            base = "people with tastes like yours respond to this advertiser"
        elif context == "user" and history_pos is not None and len(history_pos[history_pos >= 0]):
            hp = history_pos[history_pos >= 0]
            best = int(hp[int(np.argmax(self.art.item_vectors[hp] @ self.cv.vectors[i]))])
            base = f"matches your interest in “{self.art.titles[best]}”"
        elif context == "text" and detail:
            base = f"relevant to your search “{detail[:80]}”"
        elif context == "item" and detail:
            base = f"related to “{detail[:80]}”"
        else:
            base = "close to your profile"
        return f"{base} (relevance {rel:.2f})"
