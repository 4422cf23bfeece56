"""Ads: online ad matching (pCTR × bid under budgets, pacing and frequency caps) beside organic results.

The campaigns themselves (model, loading, ad copy, campaign vectors) live in `recsys.campaigns`, which
batch audiences use too.
"""

# Re-exported for service/ads.py, which imports it from here; import it from recsys.campaigns instead.
from recsys.campaigns import load_campaigns

__all__ = ["load_campaigns"]
