"""Ads in the service: where each tenant's campaigns come from, and the ads beside an answer.

`--campaigns FILE` serves one tenant; `--campaigns DIR` holds `<tenant>.parquet` or `<tenant>.jsonl`
per tenant (a tenant without a file serves no ads). Campaigns are re-read and re-encoded on
`POST /v1/admin/reload`; spend and frequency are replayed from the ad events in the event store,
and pCTR is refitted from them, whenever they are loaded.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path

from recsys.ads.auction import AdParams
from recsys.ads.matcher import AdMatcher
from recsys.artifacts import Artifacts
from recsys.campaigns import load_campaigns
from recsys.encoders import Encoder
from recsys.errors import ConfigError, Problem
from recsys.store import CAMPAIGN_ID, EventStore

__all__ = ["AdsSource", "ad_event_problems"]

_SUFFIXES = (".parquet", ".jsonl", ".ndjson")


@dataclass(frozen=True)
class AdsSource:
    path: Path
    params: AdParams = AdParams()

    @classmethod
    def for_tenant(cls, campaigns: Path | None, tenant: str, *, relevance_floor: float,
                   min_percentile: float) -> AdsSource | None:
        if campaigns is None:
            return None
        params = replace(AdParams(), relevance_floor=relevance_floor, min_percentile=min_percentile)
        if campaigns.is_file():
            return cls(campaigns, params)
        if not campaigns.is_dir():
            raise ConfigError(f"--campaigns {campaigns} does not exist; give a campaigns file (.parquet/.jsonl) "
                              "or a folder with <tenant>.parquet files")
        for suffix in _SUFFIXES:
            if (campaigns / f"{tenant}{suffix}").is_file():
                return cls(campaigns / f"{tenant}{suffix}", params)
        return None

    def matcher(self, art: Artifacts, encoder: Encoder, store: EventStore, tenant: str, *,
                through_seq: int | None = None) -> AdMatcher:
        """Campaigns encoded, with a ledger replayed from the ad events stored up to `through_seq` (all)."""
        return AdMatcher.build(art, load_campaigns(self.path), encoder,
                               ad_events=store.ad_events(tenant, through_seq=through_seq), params=self.params)


def ad_event_problems(campaign_ids: Collection[str], matcher: AdMatcher | None, file: str) -> list[Problem]:
    """Ad events must name a campaign this tenant serves (`campaign_ids`: those a batch's ad events name)."""
    if not campaign_ids:
        return []
    if matcher is None:
        return [Problem(file, CAMPAIGN_ID, "this tenant serves no campaigns, so events cannot name one",
                        "start the server with --campaigns FILE")]
    known = {c.campaign_id for c in matcher.campaigns}
    unknown = sorted(set(campaign_ids) - known)
    if unknown:
        return [Problem(file, CAMPAIGN_ID, f"{len(unknown)} unknown campaign id(s)", ", ".join(unknown[:5]))]
    return []
