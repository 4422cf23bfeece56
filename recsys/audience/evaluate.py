"""Offline audience quality: would the audiences have reached the users who then bought?

Protocol: a global-time split (``recsys.data.splits``; default cutoff the 90% quantile of
interaction times). Every product bought, reviewed or rated by at least ``min_users`` targetable users
in the test period becomes a campaign with that product as its landing page. A train-only index is
built with ``recsys.build.pipeline.build_index`` (train + validation events, i.e. everything up to the cutoff),
and audiences are built from it with the production code path (no cross-campaign cap, no holdout).
Targetable users are those with a profile in the train index; users who had already bought the product
before the cutoff are excluded from the audience *and* from the positives, as the builder would.

Per campaign and audience size n (the campaign's number of positives ``r``, and each fixed size):
precision@n = hits / n, recall@n = hits / r, against two baselines over the same eligible users —
random targeting (precision = the base rate r / eligible) and popularity targeting (the n users with
the most train interactions). Lift = precision / baseline precision; we report the ratio of mean
precisions over campaigns, plus the mean per-campaign lift over random.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.artifacts import load_artifacts
from recsys.audience.build import BOUGHT_EVENTS, AudienceParams, build_for_index
from recsys.audience.executor import LocalExecutor
from recsys.build.pipeline import BuildOptions, build_index
from recsys.campaigns.campaign import Campaign
from recsys.data import schema as S
from recsys.data.dataset import make_dataset
from recsys.data.splits import interactions, split_events, train_valid_events
from recsys.encoders import Encoder
from recsys.errors import ConfigError

__all__ = ["AudienceEvalConfig", "evaluate_audiences", "score_audience"]


@dataclass(frozen=True)
class AudienceEvalConfig:
    cutoff: pd.Timestamp | None = None
    min_users: int = 3
    sizes: tuple[int, ...] = (10, 50)
    max_campaigns: int = 500

    def __post_init__(self) -> None:
        if self.min_users < 1 or any(s < 1 for s in self.sizes) or self.max_campaigns < 1:
            raise ConfigError("min_users, sizes and max_campaigns must all be >= 1")


def score_audience(ranked: np.ndarray, positives: set[str], n: int) -> tuple[int, float, float]:
    """(hits, precision@n, recall@n) of the first ``n`` users of ``ranked``."""
    hits = sum(1 for u in ranked[:n] if u in positives)
    return hits, hits / n, hits / max(1, len(positives))


def _bought(frame: pd.DataFrame) -> pd.DataFrame:
    inter = interactions(frame)
    return inter[inter[S.EVENT_TYPE].isin(BOUGHT_EVENTS)][[S.USER_ID, S.PRODUCT_ID]].drop_duplicates()


def _campaign_targets(history: pd.DataFrame, test: pd.DataFrame, universe: set[str], min_users: int,
                      limit: int) -> dict[str, set[str]]:
    before = set(map(tuple, _bought(history).to_numpy()))
    after = _bought(test)
    after = after[after[S.USER_ID].isin(universe)]
    after = after[[(u, p) not in before for u, p in after.to_numpy()]]
    groups = after.groupby(S.PRODUCT_ID)[S.USER_ID].agg(set)
    groups = groups[groups.map(len) >= min_users]
    order = sorted(groups.index, key=lambda p: (-len(groups[p]), str(p)))[:limit]
    return {str(p): set(map(str, groups[p])) for p in order}


def _mean(xs: Sequence[float]) -> float | None:
    return round(float(np.mean(xs)), 4) if len(xs) else None


def evaluate_audiences(products: pd.DataFrame, events: pd.DataFrame, encoder: Encoder,
                       cfg: AudienceEvalConfig = AudienceEvalConfig(), *, workdir: str | Path | None = None,
                       log=lambda _m: None) -> dict[str, Any]:  # noqa: ANN001 - a plain callback
    """Split, build a train-only index, build per-product audiences, score them (see module docstring)."""
    split = split_events(events, "global-time", cutoff=cfg.cutoff)
    history = train_valid_events(split)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        log(f"building a train-only index over {len(history):,} events (cutoff {split.report.get('cutoff')})")
        build_index(make_dataset(products, history, "audience-eval-train"), Path(tmp) / "idx", encoder,
                    BuildOptions(progress=False))
        art = load_artifacts(Path(tmp) / "idx")
    universe = set(map(str, art.user_ids))
    targets = _campaign_targets(history, split.test, universe, cfg.min_users, cfg.max_campaigns)
    if not targets:
        raise ConfigError(f"no product was bought by >= {cfg.min_users} targetable users after the cutoff; "
                          "lower --min-users or move --cutoff earlier")
    campaigns = [Campaign(campaign_id=f"c{i}", bid_type="cpc", bid=1.0, landing_product_ids=(p,))
                 for i, p in enumerate(targets)]
    size = max(max(cfg.sizes, default=1), max(len(t) for t in targets.values()))
    params = AudienceParams(size=min(size, len(universe)), holdout=0.0, max_per_user=None)
    with LocalExecutor(art.user_vectors) as executor:
        built = build_for_index(art, campaigns, encoder, params, executor)
    activity = interactions(history).groupby(S.USER_ID).size()
    pop_rank = sorted(universe, key=lambda u: (-int(activity.get(u, 0)), u))
    per_campaign: list[dict[str, Any]] = []
    for c, (product, pos) in zip(campaigns, targets.items(), strict=True):
        ranked = built.audiences[c.campaign_id]["user_id"].to_numpy(dtype=object)
        excluded = {u for u, p in _bought(history).to_numpy() if p == product}
        eligible = len(universe - excluded)
        pop = np.array([u for u in pop_rank if u not in excluded], dtype=object)
        row: dict[str, Any] = {"product_id": product, "positives": len(pos), "eligible_users": eligible,
                               "base_rate": round(len(pos) / max(1, eligible), 6)}
        for label, n in [("r", len(pos)), *((str(s), s) for s in cfg.sizes)]:
            n = min(n, eligible)
            hits, prec, rec = score_audience(ranked, pos, n)
            _ph, pprec, prec_rec = score_audience(pop, pos, n)
            row[f"@{label}"] = {"n": n, "hits": hits, "precision": round(prec, 4), "recall": round(rec, 4),
                                "popularity_precision": round(pprec, 4), "popularity_recall": round(prec_rec, 4)}
        per_campaign.append(row)
    summary: dict[str, Any] = {}
    for label in ["r", *map(str, cfg.sizes)]:
        precs = [r[f"@{label}"]["precision"] for r in per_campaign]
        pop_precs = [r[f"@{label}"]["popularity_precision"] for r in per_campaign]
        bases = [r["base_rate"] for r in per_campaign]
        summary[f"@{label}"] = {
            "precision": _mean(precs), "recall": _mean([r[f"@{label}"]["recall"] for r in per_campaign]),
            "random_precision": _mean(bases), "popularity_precision": _mean(pop_precs),
            "popularity_recall": _mean([r[f"@{label}"]["popularity_recall"] for r in per_campaign]),
            "lift_over_random": round(float(np.mean(precs) / max(np.mean(bases), 1e-12)), 3),
            "mean_campaign_lift_over_random": _mean([p / b for p, b in zip(precs, bases, strict=True) if b > 0]),
            "lift_over_popularity": (round(float(np.mean(precs) / np.mean(pop_precs)), 3)
                                     if np.mean(pop_precs) > 0 else None),
        }
    return {"protocol": {"split": split.report, "config": {**asdict(cfg), "cutoff": split.report.get("cutoff")},
                         "bought_events": sorted(BOUGHT_EVENTS), "audience_params": asdict(params),
                         "universe": "users with a profile in the train-only index", "n_users": len(universe),
                         "encoder": encoder.name},
            "n_campaigns": len(per_campaign), "summary": summary, "campaigns": per_campaign,
            "build_stats": built.stats}
