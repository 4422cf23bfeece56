"""What the dashboard's views show, computed from a tenant's `Served` version, its index folder and the
event store: the manifest summary, the newest evaluation report and audience summary beside the index,
events per minute and the trending items.

Reports are looked for only inside the tenant's own index folder (the served version folder, the index
folder and the folders directly in it, e.g. `recsys evaluate --out indexes/gift_cards/eval`), never above
it, so one tenant never sees another's files. A file that is not such a report is skipped (and logged).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from recsys.data import schema as S
from recsys.index.manifest import Manifest
from recsys.service.schemas import (
    AudienceRow,
    AudienceSummary,
    DataSummary,
    EncoderSummary,
    EvaluationSummary,
    IndexSummary,
    ManifestSummary,
    MethodScore,
    MinuteCount,
    RankerSummary,
    TrendingItem,
)
from recsys.service.tenants import Served
from recsys.store.base import RECEIVED_AT

__all__ = ["manifest_summary", "find_evaluation", "find_audiences", "events_per_minute", "event_types",
           "trending_items", "REPORT_FILE", "AUDIENCE_FILE"]

log = logging.getLogger("recsys.service")
REPORT_FILE = "report.json"  # written by `recsys evaluate --out DIR`
AUDIENCE_FILE = "summary.json"  # written by `recsys audience build --out DIR`
_MAX_BYTES = 8 << 20  # a report larger than this is not one of ours
_MAX_FOLDERS = 200
T = TypeVar("T")


def _finite(v: Any) -> float | None:
    """A JSON-safe float: answers never carry NaN or infinities."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def manifest_summary(m: Manifest) -> ManifestSummary:
    ix, rk = m.index, m.ranker
    candidates = {name: {k: f for k, v in scores.items() if (f := _finite(v)) is not None}
                  for name, scores in rk.candidates.items()}
    return ManifestSummary(
        name=m.name, version=m.version, created_at=m.created_at, build_seconds=m.build_seconds, parent=m.parent,
        lineage=m.lineage.strategy, blend_config_id=m.blend_config_id, encode_texts_per_s=m.encode_texts_per_s,
        encoder=EncoderSummary(name=m.encoder.name, dim=m.encoder.dim, engine=m.encoder.engine,
                               revision=m.encoder.revision),
        index=IndexSummary(factory=ix.factory, metric=ix.metric, count=ix.count, unique_count=ix.unique_count,
                           search_params=dict(ix.search_params), recall_at_10=ix.recall_at_10,
                           recall_queries=ix.recall_queries, qps=_finite(ix.qps), target_recall=ix.target_recall,
                           target_met=ix.target_met),
        ranker=RankerSummary(kind=rk.kind, chosen_by=rk.chosen_by, metric=rk.metric, candidates=candidates,
                             detail=rk.detail),
        data=DataSummary(source=m.data.source, n_products=m.data.n_products, n_events=m.data.n_events,
                         n_users=m.data.n_users, n_users_with_profile=m.data.n_users_with_profile,
                         as_of=m.data.as_of),
    )


def _candidates(index_root: Path, version_root: Path, name: str) -> Iterator[Path]:
    seen: set[Path] = set()
    folders = [version_root, index_root]
    if index_root.is_dir():
        folders += sorted(p for p in index_root.iterdir() if p.is_dir() and not p.name.startswith("."))[:_MAX_FOLDERS]
    for folder in folders:
        path = folder / name
        key = path.resolve()
        if key not in seen and path.is_file() and path.stat().st_size <= _MAX_BYTES:
            seen.add(key)
            yield path


def _newest(index_root: Path, version_root: Path, name: str, parse: Callable[[dict[str, Any], str, datetime], T]
            ) -> T | None:
    found = sorted(_candidates(index_root, version_root, name), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in found:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            rel = path.relative_to(index_root).as_posix() if path.is_relative_to(index_root) else path.name
            modified = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
            if isinstance(data, dict):
                return parse(data, rel, modified)
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("dashboard: skipping %s, not a readable %s (%s: %s)", path, name, type(exc).__name__, exc)
    return None


def _int(v: Any) -> int | None:
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _evaluation(data: dict[str, Any], rel: str, modified: datetime) -> EvaluationSummary:
    methods_in = data["methods"]
    if not isinstance(methods_in, dict):
        raise TypeError("`methods` is not an object")
    ks = data.get("config", {}).get("ks") or [10]
    k = 10 if 10 in ks else int(ks[0])
    methods = []
    for name, m in methods_in.items():
        if m.get("skipped"):
            methods.append(MethodScore(method=name, recall=None, ndcg=None, mrr=None, coverage=None,
                                       skipped=str(m.get("reason", "skipped"))))
            continue
        methods.append(MethodScore(method=name, recall=_finite(m.get(f"recall@{k}")), ndcg=_finite(m.get(f"ndcg@{k}")),
                                   mrr=_finite(m.get("mrr")), coverage=_finite(m.get(f"coverage@{k}")), skipped=None))
    return EvaluationSummary(file=rel, modified=modified, k=k, split=data.get("config", {}).get("scheme"),
                             users_evaluated=_int(data.get("split", {}).get("users_evaluated")), methods=methods)


def _audiences(data: dict[str, Any], rel: str, modified: datetime) -> AudienceSummary:
    rows = data["campaigns"]
    if not isinstance(rows, list) or "overlap" not in data:
        raise TypeError("not an audience summary (`campaigns` list and `overlap`)")
    totals = data.get("totals", {})
    campaigns = [AudienceRow(campaign_id=str(r["campaign_id"]), reach=int(r["reach"]),
                             reach_target=int(r.get("reach_target", 0)), reach_holdout=int(r.get("reach_holdout", 0)),
                             score_p50=_finite((r.get("score") or {}).get("p50")),
                             estimated_cost=_finite(r.get("estimated_cost"))) for r in rows]
    return AudienceSummary(file=rel, modified=modified, distinct_users=_int(totals.get("distinct_users")),
                           estimated_cost=_finite(totals.get("estimated_cost")),
                           mean_jaccard=_finite(data["overlap"].get("mean_jaccard")), campaigns=campaigns)


def find_evaluation(index_root: Path, version_root: Path) -> EvaluationSummary | None:
    """The newest evaluation report in or directly inside the tenant's index folder, if any."""
    return _newest(index_root, version_root, REPORT_FILE, _evaluation)


def find_audiences(index_root: Path, version_root: Path) -> AudienceSummary | None:
    """The newest audience summary in or directly inside the tenant's index folder, if any."""
    return _newest(index_root, version_root, AUDIENCE_FILE, _audiences)


def events_per_minute(events: pd.DataFrame, now: pd.Timestamp, minutes: int) -> list[MinuteCount]:
    """Stored events per minute of receipt over the `minutes` before `now`, oldest first, zeros included."""
    end = now.floor("min")
    starts = pd.date_range(end=end, periods=minutes, freq="min")
    if events.empty:
        counts = pd.Series(0, index=starts)
    else:
        received = pd.to_datetime(events[RECEIVED_AT], utc=True).dt.floor("min")
        counts = received.value_counts().reindex(starts, fill_value=0)
    return [MinuteCount(minute=t.to_pydatetime(), events=int(n))
            for t, n in zip(starts, counts.to_numpy().tolist(), strict=True)]


def event_types(events: pd.DataFrame) -> dict[str, int]:
    if events.empty:
        return {}
    return {str(k): int(v) for k, v in events[S.EVENT_TYPE].value_counts().items()}


def trending_items(served: Served, top: int) -> list[TrendingItem]:
    """The catalogue's top items by the live trending signal (ties: popularity, then the version's tiebreak)."""
    signals, _ = served.live.snapshot()
    n = len(signals.trending)
    if n == 0:
        return []
    order = np.lexsort((served.art.features.tiebreak, -signals.popularity, -signals.trending))[:top]
    ids, titles, live = served.art.product_ids, served.art.titles, served.live.live
    return [TrendingItem(product_id=str(ids[p]), title=str(titles[p]), trending=_finite(signals.trending[p]) or 0.0,
                         popularity=_finite(signals.popularity[p]) or 0.0, live_weight=_finite(live[p]) or 0.0)
            for p in order.tolist()]
