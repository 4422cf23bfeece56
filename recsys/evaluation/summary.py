"""Turn ranked lists into the per-method metric dictionary of the evaluation report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from recsys.evaluation import metrics as M

__all__ = ["summarize_ranking", "UserSlice", "PRIMARY_K"]

PRIMARY_K = 10


@dataclass(frozen=True)
class UserSlice:
    """A subset of the evaluated users (``mask`` over them, in their order) reported beside the totals."""

    mask: np.ndarray
    definition: str


def _mean(v: np.ndarray) -> float:
    v = v[~np.isnan(v)]
    return float(v.mean()) if len(v) else float("nan")


def summarize_ranking(
    ranked: np.ndarray,
    targets: Sequence[np.ndarray],
    *,
    ks: Sequence[int],
    n_items: int,
    history_len: np.ndarray,
    cold_items: np.ndarray,
    n_boot: int,
    seed: int,
    user_slices: Mapping[str, UserSlice] | None = None,
) -> dict[str, Any]:
    """Means over users of recall/NDCG@k, MRR, hit rate and coverage at the primary k, CIs and slices.

    ``history_len`` is each user's number of distinct history items; ``cold_items`` a boolean item mask
    (targets among them form the cold-item slice). Each of ``user_slices`` is reported under
    ``slices[name]`` with its user count, recall/NDCG@k and bootstrap CIs at the primary k.
    """
    k0 = PRIMARY_K if PRIMARY_K in ks else min(ks)
    n_t = M.target_counts(targets)
    hits = M.hit_matrix(ranked, targets)
    out: dict[str, Any] = {"users": int(len(targets)), "targets": int(n_t.sum())}
    per_user: dict[str, np.ndarray] = {}
    for k in ks:
        per_user[f"recall@{k}"] = M.recall_at_k(hits, n_t, k)
        per_user[f"ndcg@{k}"] = M.ndcg_at_k(hits, n_t, k)
        out[f"recall@{k}"] = _mean(per_user[f"recall@{k}"])
        out[f"ndcg@{k}"] = _mean(per_user[f"ndcg@{k}"])
    out["mrr"] = _mean(M.reciprocal_rank(hits, n_t))
    out[f"hitrate@{k0}"] = _mean(M.hit_rate_at_k(hits, k0))
    out[f"coverage@{k0}"] = M.catalogue_coverage(ranked, k0, n_items)
    for name in (f"recall@{k0}", f"ndcg@{k0}"):
        lo, hi = M.bootstrap_ci(per_user[name], n_boot=n_boot, seed=seed)
        out[f"{name}_ci95"] = [lo, hi]
    out["slices"] = {
        "cold_items": _cold_slice(ranked, targets, cold_items, ks),
        "history_length": _history_slice(history_len, per_user, k0),
    }
    for name, user_slice in (user_slices or {}).items():
        out["slices"][name] = _user_slice(user_slice, per_user, ks, k0, n_boot, seed)
    return out


def _user_slice(
    user_slice: UserSlice, per_user: dict[str, np.ndarray], ks: Sequence[int], k0: int, n_boot: int, seed: int
) -> dict[str, Any]:
    mask = np.asarray(user_slice.mask, dtype=bool)
    res: dict[str, Any] = {"definition": user_slice.definition, "users": int(mask.sum())}
    for k in ks:
        for metric in (f"recall@{k}", f"ndcg@{k}"):
            res[metric] = _mean(per_user[metric][mask])
    for metric in (f"recall@{k0}", f"ndcg@{k0}"):
        res[f"{metric}_ci95"] = list(M.bootstrap_ci(per_user[metric][mask], n_boot=n_boot, seed=seed))
    return res


def _cold_slice(
    ranked: np.ndarray, targets: Sequence[np.ndarray], cold: np.ndarray, ks: Sequence[int]
) -> dict[str, Any]:
    cold_targets = M.restrict_targets(targets, cold)
    n_cold = M.target_counts(cold_targets)
    res: dict[str, Any] = {
        "definition": "targets with <= 1 distinct user in the fitted-on history",
        "users": int((n_cold > 0).sum()),
        "targets": int(n_cold.sum()),
    }
    hits = M.hit_matrix(ranked, cold_targets)
    for k in ks:
        res[f"recall@{k}"] = _mean(M.recall_at_k(hits, n_cold, k))
    return res


def _history_slice(history_len: np.ndarray, per_user: dict[str, np.ndarray], k0: int) -> dict[str, Any]:
    labels = M.history_buckets(history_len)
    order = [f"{lo}+" if hi is None else f"{lo}-{hi}" for lo, hi in M.HISTORY_BUCKETS]
    res: dict[str, Any] = {}
    for metric in (f"recall@{k0}", f"ndcg@{k0}"):
        by = M.mean_by_label(per_user[metric], labels)
        for label in order:
            entry = res.setdefault(label, {"users": by.get(label, {"users": 0})["users"]})
            entry[metric] = by[label]["mean"] if label in by else float("nan")
    return res
