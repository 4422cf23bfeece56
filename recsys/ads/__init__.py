"""Ads: campaigns, ad copy, campaign vectors, online ad matching (pCTR × bid under budgets and caps)."""

from recsys.ads.campaigns import CAMPAIGN_COLUMNS, Campaign, load_campaigns, parse_campaigns
from recsys.ads.copy import AdCopy, make_copy
from recsys.ads.vectors import CampaignVectors, campaign_vectors

__all__ = ["Campaign", "CAMPAIGN_COLUMNS", "load_campaigns", "parse_campaigns", "AdCopy", "make_copy",
           "CampaignVectors", "campaign_vectors"]
