"""Ads: online ad matching (pCTR × bid under budgets, pacing and frequency caps) beside organic results.

The campaigns themselves (model, loading, ad copy, campaign vectors) live in `recsys.campaigns`, which
batch audiences use too.
"""
