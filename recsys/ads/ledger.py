"""The ad ledger: spend per campaign (today, total) and impressions per user and campaign, replayed from
the ad events (impressions and clicks carrying a `campaign_id`) in the event store and updated as new
ones are ingested. Costs are charged at the campaign's bid (`auction.event_cost`).

Days are UTC days of the event timestamps; the frequency window counts a user's impressions of a
campaign in the last `window` before `now`.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Mapping

import numpy as np
import pandas as pd

from recsys.ads.auction import CampaignSpend, event_cost
from recsys.campaigns.campaign import Campaign
from recsys.data import schema as S
from recsys.store.base import CAMPAIGN_ID

__all__ = ["AdLedger", "CAMPAIGN_ID", "AD_EVENT_TYPES"]

AD_EVENT_TYPES = frozenset({"impression", "click"})


class AdLedger:
    def __init__(self, campaigns: Mapping[str, Campaign], window: pd.Timedelta = pd.Timedelta(hours=24)) -> None:
        self._campaigns = dict(campaigns)
        self._window = window
        self._total: dict[str, float] = defaultdict(float)
        self._daily: dict[tuple[str, pd.Timestamp], float] = defaultdict(float)
        self._seen: dict[tuple[str, str], deque[pd.Timestamp]] = defaultdict(deque)
        #: (user, campaign) → [impressions, clicks], the evidence for fitting pCTR.
        self.pairs: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        self._lock = threading.Lock()
        self.events_applied = 0

    def apply(self, events: pd.DataFrame) -> int:
        """Record ad events (rows whose `campaign_id` names a known campaign); return how many counted."""
        if CAMPAIGN_ID not in events.columns or not len(events):
            return 0
        rows = events[events[CAMPAIGN_ID].notna() & events[S.EVENT_TYPE].isin(AD_EVENT_TYPES)]
        counted = 0
        with self._lock:
            for cid, user, etype, ts in zip(rows[CAMPAIGN_ID], rows[S.USER_ID], rows[S.EVENT_TYPE],
                                            rows[S.TIMESTAMP], strict=True):
                c = self._campaigns.get(cid)
                if c is None:
                    continue
                cost = event_cost(c, etype)
                self._total[cid] += cost
                self._daily[(cid, ts.normalize())] += cost
                pair = self.pairs[(user, cid)]
                if etype == "impression":
                    self._seen[(user, cid)].append(ts)
                    pair[0] += 1
                else:
                    pair[1] += 1
                counted += 1
            self.events_applied += counted
        return counted

    def spend(self, campaign_id: str, now: pd.Timestamp) -> CampaignSpend:
        with self._lock:
            return CampaignSpend(self._daily.get((campaign_id, now.normalize()), 0.0),
                                 self._total.get(campaign_id, 0.0))

    def impressions(self, user_id: str, now: pd.Timestamp) -> dict[str, int]:
        """Impressions of each campaign shown to `user_id` within the frequency window before `now`."""
        since = now - self._window
        out: dict[str, int] = {}
        with self._lock:
            for cid in self._campaigns:
                seen = self._seen.get((user_id, cid))
                if seen:
                    out[cid] = sum(1 for t in seen if since <= t <= now)
        return out

    def evidence(self) -> tuple[list[tuple[str, str]], np.ndarray, np.ndarray]:
        """(user, campaign) pairs with their impression and click counts."""
        with self._lock:
            keys = list(self.pairs)
            counts = np.array([self.pairs[k] for k in keys], dtype=np.int64).reshape(-1, 2)
        return keys, counts[:, 0], counts[:, 1]
