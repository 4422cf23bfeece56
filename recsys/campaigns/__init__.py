"""Ad campaigns, shared by online ad matching (`recsys.ads`) and batch audiences (`recsys.audience`):
the campaign model with its loading and validation, ad copy generated from landing products, and
campaign vectors in the index's embedding space."""

from recsys.campaigns.campaign import CAMPAIGN_COLUMNS, Campaign, load_campaigns, parse_campaigns
from recsys.campaigns.copy import AdCopy, make_copy
from recsys.campaigns.vectors import CampaignVectors, campaign_vectors

__all__ = ["Campaign", "CAMPAIGN_COLUMNS", "load_campaigns", "parse_campaigns", "AdCopy", "make_copy",
           "CampaignVectors", "campaign_vectors"]
