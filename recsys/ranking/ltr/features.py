"""Features of (user, candidate) pairs for the learned ranker, grouped so an ablation can drop a group.

All features are computed from the `ItemFeatures` of one time slice and the user's ordered history, so
training (an earlier slice) and serving (the index) share this code. Missing values are NaN, which
LightGBM treats as "unknown" rather than as zero.

The `cold` group repeats the text cosines only for candidates with at most `COLD_USERS` distinct users
in the slice (NaN for the others). A tree can in principle find "cosine matters when log_users is low"
by itself, but with a few hundred training users it rarely does; these features hand it the split, so
text can carry the items that collaborative features know nothing about.
"""

from __future__ import annotations

import numpy as np

from recsys.errors import ConfigError
from recsys.features.items import ItemFeatures
from recsys.features.sequences import MAX_HISTORY, UserBatch
from recsys.ranking.ltr.candidates import SOURCES, CandidateParams, Candidates

__all__ = ["COLD_USERS", "FEATURE_GROUPS", "feature_names", "compute_features"]

#: Candidates with at most this many distinct users in the slice get the `cold` features.
COLD_USERS = 2

FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "text": ("cos_profile", "cos_last", "cos_recent_max", "cos_recent_mean"),
    "cooc": ("knn_recent", "knn_last", "knn_all"),
    "sequence": ("next_recent", "next_last"),
    "ease": ("ease_score", "ease_score_rel"),
    "cold": ("cos_profile_cold", "cos_recent_max_cold"),
    "popularity": ("popularity", "trending", "log_users"),
    "source_ranks": tuple(f"rank_{s}" for s in SOURCES) + ("n_sources",),
    "match": ("category_match", "top_category_match", "brand_match", "last_category_match"),
    "price": ("log_price", "price_distance"),
    "rating": ("rating", "log_rating_count", "sentiment"),
    "age": ("age_days",),
    "user": ("history_len",),
}


def feature_names(drop_groups: tuple[str, ...] = ()) -> tuple[str, ...]:
    unknown = sorted(set(drop_groups) - FEATURE_GROUPS.keys())
    if unknown:
        raise ConfigError(f"unknown feature group(s) {unknown}; choose from {sorted(FEATURE_GROUPS)}")
    return tuple(f for g, names in FEATURE_GROUPS.items() if g not in drop_groups for f in names)


def _match(item_codes: np.ndarray, cand: np.ndarray, hist: np.ndarray) -> np.ndarray:
    """Share of the (valid) history items whose code equals the candidate's; NaN for unknown codes."""
    hc = np.where(hist >= 0, item_codes[np.maximum(hist, 0)], -2)  # b × H, −2 = padding
    cc = item_codes[cand]  # b × C
    valid = (hc != -2) & (hc != -1)
    n = valid.sum(axis=1, keepdims=True)
    same = ((cc[:, :, None] == hc[:, None, :]) & valid[:, None, :]).sum(axis=2)
    out = np.divide(same, n, out=np.full(same.shape, np.nan), where=n > 0)
    return np.where(cc >= 0, out, np.nan)


def _mean_history_price(ctx: ItemFeatures, hist: np.ndarray) -> np.ndarray:
    """b × 1 mean log price of the priced history items (NaN when none has a price)."""
    p = np.where(hist >= 0, ctx.log_price[np.maximum(hist, 0)], np.nan)
    n = np.isfinite(p).sum(axis=1, keepdims=True)
    return np.divide(np.nansum(p, axis=1, keepdims=True), n, out=np.full(n.shape, np.nan), where=n > 0)


def compute_features(
    ctx: ItemFeatures, batch: UserBatch, cands: Candidates, params: CandidateParams,
    names: tuple[str, ...] | None = None,
) -> np.ndarray:
    """b × C × F float32 in the order of `names` (default: every feature); padding rows are NaN."""
    names = names or feature_names()
    pos = cands.positions
    cand = np.maximum(pos, 0)
    hist = batch.padded(MAX_HISTORY)
    recent = hist[:, : params.recent_items]
    vc = ctx.vectors[cand]  # b × C × d
    cos_r = np.einsum("bcd,brd->bcr", vc, ctx.vectors[np.maximum(recent, 0)])
    rmask = (recent >= 0)[:, None, :]
    n_recent = rmask.sum(axis=2)
    sig = ctx.signals
    assert sig.sentiment is not None and sig.sentiment_count is not None  # ItemSignals fills them in
    users = sig.interactions[cand]
    ease = np.take_along_axis(cands.ease, cand, axis=1)
    # the user's best EASE score over the catalogue (history excluded: its own scores are not targets)
    hist_mask = np.zeros(cands.ease.shape, bool)
    for b, h in enumerate(batch.hist):
        hist_mask[b, h] = True
    ease_max = np.where(hist_mask, -np.inf, cands.ease).max(axis=1, initial=-np.inf)[:, None]
    f: dict[str, np.ndarray] = {
        "cos_profile": np.einsum("bcd,bd->bc", vc, batch.profile),
        "cos_last": np.where(recent[:, :1] >= 0, cos_r[:, :, 0], np.nan),
        "cos_recent_max": np.where(n_recent > 0, np.where(rmask, cos_r, -np.inf).max(axis=2), np.nan),
        "cos_recent_mean": np.divide(np.where(rmask, cos_r, 0).sum(axis=2), n_recent,
                                     out=np.full(pos.shape, np.nan), where=n_recent > 0),
        "knn_recent": np.take_along_axis(cands.knn_recent, cand, axis=1),
        "knn_last": np.where(recent[:, :1] >= 0,
                             np.asarray(ctx.cooc[np.maximum(recent[:, 0], 0)].todense())[
                                 np.arange(len(pos))[:, None], cand], np.nan),
        "knn_all": np.take_along_axis(cands.knn_all, cand, axis=1),
        "next_recent": np.take_along_axis(cands.next_recent, cand, axis=1),
        "next_last": np.where(recent[:, :1] >= 0,
                              np.asarray(ctx.trans[np.maximum(recent[:, 0], 0)].todense())[
                                  np.arange(len(pos))[:, None], cand], np.nan),
        "ease_score": ease,
        "ease_score_rel": np.divide(ease, ease_max, out=np.full(pos.shape, np.nan, np.float32), where=ease_max > 0),
        "popularity": sig.popularity[cand],
        "trending": sig.trending[cand],
        "log_users": np.log1p(users.astype(np.float32)),
        "n_sources": sum((~np.isnan(r)).astype(np.float32) for r in cands.ranks.values()) if cands.ranks
        else np.zeros(pos.shape, np.float32),
        "category_match": _match(ctx.category_code, cand, hist),
        "top_category_match": _match(ctx.top_category_code, cand, hist),
        "brand_match": _match(ctx.brand_code, cand, hist),
        "last_category_match": _match(ctx.category_code, cand, recent[:, :1]),
        "log_price": ctx.log_price[cand],
        "price_distance": np.abs(ctx.log_price[cand] - _mean_history_price(ctx, hist)),
        "rating": np.where(sig.rating_count[cand] > 0, sig.rating[cand], np.nan),
        "log_rating_count": np.log1p(sig.rating_count[cand].astype(np.float32)),
        "sentiment": np.where(sig.sentiment_count[cand] > 0, sig.sentiment[cand], np.nan),
        "age_days": ctx.age_days[cand],
        "history_len": np.broadcast_to(np.array([len(h) for h in batch.hist], np.float32)[:, None], pos.shape),
    }
    cold = users <= COLD_USERS
    f["cos_profile_cold"] = np.where(cold, f["cos_profile"], np.nan)
    f["cos_recent_max_cold"] = np.where(cold, f["cos_recent_max"], np.nan)
    for s in SOURCES:
        f[f"rank_{s}"] = cands.ranks.get(s, np.full(pos.shape, np.nan, np.float32))
    out = np.stack([np.asarray(f[name], np.float32) for name in names], axis=2)
    out[pos < 0] = np.nan
    return out
