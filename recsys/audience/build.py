"""Batch audience builds: rank every user per campaign, apply the rules, label the holdout group.

``select_audiences`` is the executor-agnostic core (plain vectors and ids in, frames out), used by the
CLI, the offline evaluation and the benchmark alike. Per campaign it fetches the top
``ceil(size × overfetch) + |excluded|`` users, filters them, runs the cross-campaign greedy over all
campaigns at once, and refetches twice as many for any campaign that ended short while its fetched
list was cut off above the minimum score — the greedy over the longer lists is then rerun from scratch,
so the result equals the greedy over complete rankings (up to ``max_overfetch``, see AudienceParams).

``build_for_index`` adds what an index knows: campaign vectors from ``recsys.campaigns.vectors`` and the
exclusions (users who already bought a landing product, an opted-out list, a lookalike's own seeds).
The audience size counts both groups: the holdout is a random ``holdout`` share of the selected users.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd
import pyarrow as pa

from recsys.artifacts import POSITION, Artifacts
from recsys.audience.executor import ScanExecutor
from recsys.audience.select import assign_capped, filter_candidates, holdout_mask, user_hashes
from recsys.campaigns.campaign import Campaign
from recsys.campaigns.vectors import campaign_vectors
from recsys.data import schema as S
from recsys.encoders import Encoder
from recsys.errors import ConfigError

__all__ = ["AudienceParams", "AudienceBuild", "AUDIENCE_COLUMNS", "BOUGHT_EVENTS", "select_audiences",
           "build_for_index", "bought_exclusions"]

AUDIENCE_COLUMNS: Final = ("user_id", "score", "rank", "group")
#: Event types that mean "already bought": review datasets only log reviews and ratings of purchases.
BOUGHT_EVENTS: Final = frozenset({"purchase", "review", "rating"})


@dataclass(frozen=True)
class AudienceParams:
    size: int = 10_000
    min_score: float | None = None
    holdout: float = 0.1
    max_per_user: int | None = None
    overfetch: float = 1.5
    #: Refetching stops at ceil(size × max_overfetch) + |excluded| users per campaign: past that, a
    #: campaign whose best users all went to higher-scoring campaigns stays short (summary: short_of_size).
    max_overfetch: float = 8.0
    max_rounds: int = 4

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ConfigError(f"--size must be >= 1, got {self.size}")
        if not 0.0 <= self.holdout < 1.0:
            raise ConfigError(f"--holdout must be in [0, 1), got {self.holdout}")
        if self.max_per_user is not None and self.max_per_user < 1:
            raise ConfigError(f"--max-per-user must be >= 1, got {self.max_per_user}")
        if not 1.0 <= self.overfetch <= self.max_overfetch:
            raise ConfigError(f"need 1 <= overfetch <= max_overfetch, got {self.overfetch}, {self.max_overfetch}")


@dataclass(frozen=True)
class AudienceBuild:
    campaign_ids: tuple[str, ...]
    audiences: dict[str, pd.DataFrame]  # campaign id -> user_id, score, rank, group (target | holdout)
    params: AudienceParams
    stats: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def _fetch_sizes(size: int, overfetch: float, excluded: Sequence[np.ndarray], n_users: int) -> np.ndarray:
    base = math.ceil(size * overfetch)
    return np.array([min(n_users, base + len(e)) for e in excluded], np.int64)


def select_audiences(user_ids: np.ndarray, campaign_ids: Sequence[str], queries: np.ndarray,
                     excluded: Sequence[np.ndarray], params: AudienceParams, executor: ScanExecutor) -> AudienceBuild:
    """Audiences for ``queries`` (unit rows aligned with ``campaign_ids``) over the executor's users."""
    n_users, n_camp = len(user_ids), len(campaign_ids)
    if len(queries) != n_camp or len(excluded) != n_camp:
        raise ConfigError(f"{n_camp} campaigns but {len(queries)} vectors and {len(excluded)} exclusion lists")
    if n_camp == 0 or n_users == 0:
        raise ConfigError(f"nothing to build: {n_camp} campaigns over {n_users} users with a profile")
    t0 = time.perf_counter()
    k_of = _fetch_sizes(params.size, params.overfetch, excluded, n_users)
    k_max = _fetch_sizes(params.size, params.max_overfetch, excluded, n_users)
    scores: list[np.ndarray] = [np.zeros(0, np.float32)] * n_camp
    rows: list[np.ndarray] = [np.zeros(0, np.int64)] * n_camp
    pending = np.arange(n_camp)
    rounds, search_s = 0, 0.0
    while True:
        rounds += 1
        t = time.perf_counter()
        top = executor.search(queries[pending], int(k_of[pending].max()))
        search_s += time.perf_counter() - t
        for j, c in enumerate(pending):
            scores[c], rows[c] = top.scores[j, : k_of[c]], top.rows[j, : k_of[c]]
        cands = filter_candidates(scores, rows, excluded, params.min_score)
        kept = assign_capped(cands, params.size, params.max_per_user)
        counts = np.bincount(cands.campaign[kept], minlength=n_camp)
        last = np.array([s[-1] if len(s) else -np.inf for s in scores], np.float32)
        above = np.isfinite(last) if params.min_score is None else last >= np.float32(params.min_score)
        short = (counts < params.size) & (k_of < k_max) & above
        if not short.any() or rounds >= params.max_rounds:
            break
        pending = np.flatnonzero(short)
        k_of[pending] = np.minimum(k_max[pending], 2 * k_of[pending])
    chosen = cands.take(kept)
    hashes = np.zeros(n_users, np.uint64)
    used = np.flatnonzero(np.bincount(chosen.row, minlength=n_users))  # sorted, without a sort
    hashes[used] = user_hashes(user_ids[used])
    audiences: dict[str, pd.DataFrame] = {}
    # `chosen` is campaign-major and, inside a campaign, in greedy order (score desc, then user row):
    # each campaign is one contiguous slice (a mask per campaign would cost campaigns × candidates).
    order = np.argsort(chosen.campaign, kind="stable")
    c_rows, c_scores = chosen.row[order], chosen.score[order].astype(np.float32)
    bounds = np.searchsorted(chosen.campaign[order], np.arange(n_camp + 1))
    # Ids and group labels are taken from Arrow arrays built once (no per-row Python strings).
    ids = pa.array(np.asarray(user_ids, dtype=object).astype(str), type=pa.string())
    groups = pa.array(["target", "holdout"], type=pa.string())
    for i, cid in enumerate(campaign_ids):
        r, s = c_rows[bounds[i]:bounds[i + 1]], c_scores[bounds[i]:bounds[i + 1]]
        held = holdout_mask(cid, hashes[r], params.holdout)
        audiences[cid] = pd.DataFrame({
            "user_id": pd.arrays.ArrowStringArray(ids.take(pa.array(r))),
            "score": s,
            "rank": np.arange(1, len(r) + 1, dtype=np.int64),
            "group": pd.arrays.ArrowStringArray(groups.take(pa.array(held.astype(np.int8)))),
        })
    stats = {"n_users": n_users, "n_campaigns": n_camp, "fetch_rounds": rounds,
             "max_fetched": int(k_of.max(initial=0)), "search_s": round(search_s, 3),
             # "engine" as in the --engine flag: summary.json's parameters echo the command line
             "total_s": round(time.perf_counter() - t0, 3), "engine": executor.name}
    return AudienceBuild(tuple(campaign_ids), audiences, params, stats)


def bought_exclusions(art: Artifacts, landing: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per campaign: rows (in ``art.user_ids``) of users with a bought-type event on a landing product."""
    hist = art.history
    bought = hist[hist[S.EVENT_TYPE].isin(BOUGHT_EVENTS) & (hist[POSITION] >= 0)]
    row_of = pd.Series(np.arange(len(art.user_ids)), index=pd.Index(art.user_ids.astype(str)))
    user_rows = bought[S.USER_ID].astype(str).map(row_of)
    has = user_rows.notna().to_numpy()
    pos = bought[POSITION].to_numpy()[has]
    urow = user_rows.to_numpy()[has].astype(np.int64)
    return [np.unique(urow[np.isin(pos, lp)]) if len(lp) else np.zeros(0, np.int64) for lp in landing]


def _rows_of(row_of: dict[str, int], ids: Sequence[str]) -> np.ndarray:
    return np.array(sorted({row_of[u] for u in ids if u in row_of}), np.int64)


def build_for_index(art: Artifacts, campaigns: Sequence[Campaign], encoder: Encoder, params: AudienceParams,
                    executor: ScanExecutor, *, opted_out: Sequence[str] = ()) -> AudienceBuild:
    """Audiences for ``campaigns`` over the index's users (paused campaigns are skipped with a warning)."""
    active = [c for c in campaigns if c.status == "active"]
    warnings = [f"campaign {c.campaign_id!r} is paused; no audience built" for c in campaigns if c.status != "active"]
    if not active:
        raise ConfigError("no active campaigns in the file; set status to 'active' for the campaigns to build")
    cv = campaign_vectors(active, art, encoder)
    row_of = {str(u): i for i, u in enumerate(art.user_ids)}
    opt_rows = _rows_of(row_of, opted_out)
    excluded = [np.union1d(np.union1d(b, opt_rows), _rows_of(row_of, c.seed_user_ids))
                for b, c in zip(bought_exclusions(art, cv.landing), active, strict=True)]
    result = select_audiences(art.user_ids, [c.campaign_id for c in active], cv.vectors, excluded, params, executor)
    stats = {**result.stats, "index_version": art.version, "encoder": art.manifest.encoder.name,
             "opted_out_known": int(len(opt_rows)), "excluded_per_campaign": {
                 c.campaign_id: int(len(e)) for c, e in zip(active, excluded, strict=True)},
             "params": asdict(params)}
    return AudienceBuild(result.campaign_ids, result.audiences, params, stats, (*warnings, *cv.warnings))
