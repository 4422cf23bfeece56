"""The build summary: reach, score distribution, pairwise overlap, estimated cost, parameters.

``summarize`` is pure (audiences in, a JSON-ready dict out); ``render_html`` turns that dict into one
self-contained HTML page (inline CSS, no scripts, nothing fetched).

Cost estimate per campaign (written into the summary as ``cost_assumptions``): only the *target*
group is served, each target user sees ``impressions_per_user`` impressions;
CPM cost = reach × impressions × bid / 1000; CPC cost = reach × impressions × expected CTR × bid;
the estimate is capped by the campaign's ``total_budget`` when it has one.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.campaigns.campaign import Campaign
from recsys.errors import ConfigError

__all__ = ["CostAssumptions", "estimate_cost", "overlap_matrix", "summarize", "render_html"]

#: Above this many campaigns the JSON lists the most-overlapping pairs instead of the full matrix.
MAX_MATRIX = 200
TOP_PAIRS = 100


@dataclass(frozen=True)
class CostAssumptions:
    impressions_per_user: float = 3.0
    expected_ctr: float = 0.01

    def __post_init__(self) -> None:
        if self.impressions_per_user <= 0 or not 0 < self.expected_ctr <= 1:
            raise ConfigError("impressions_per_user must be > 0 and expected_ctr in (0, 1]")


def estimate_cost(bid_type: str, bid: float, reach: int, total_budget: float | None,
                  a: CostAssumptions) -> tuple[float, bool]:
    """(estimated spend, whether the total budget capped it) for ``reach`` target users."""
    impressions = reach * a.impressions_per_user
    cost = impressions * bid / 1000.0 if bid_type == "cpm" else impressions * a.expected_ctr * bid
    if total_budget is not None and cost > total_budget:
        return float(total_budget), True
    return float(cost), False


def overlap_matrix(audiences: Mapping[str, pd.DataFrame]) -> tuple[list[str], np.ndarray]:
    """Campaign ids and their pairwise Jaccard index over audience members (both groups)."""
    ids = list(audiences)
    users = [a["user_id"].to_numpy(dtype=object) for a in audiences.values()]
    codes, _uniq = pd.factorize(np.concatenate(users) if users else np.zeros(0, dtype=object))
    cols = np.repeat(np.arange(len(ids)), [len(u) for u in users])
    m = sp.csr_matrix((np.ones(len(codes), np.float64), (codes, cols)), shape=(len(_uniq), len(ids)))
    inter = (m.T @ m).toarray()
    sizes = np.diag(inter)
    union = sizes[:, None] + sizes[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        jac = np.where(union > 0, inter / union, 0.0)
    return ids, jac


def _score_stats(s: np.ndarray) -> dict[str, float | None]:
    if len(s) == 0:
        return {k: None for k in ("min", "p10", "p50", "p90", "max", "mean")}
    q = np.quantile(s.astype(np.float64), [0.0, 0.1, 0.5, 0.9, 1.0])
    return {"min": round(float(q[0]), 4), "p10": round(float(q[1]), 4), "p50": round(float(q[2]), 4),
            "p90": round(float(q[3]), 4), "max": round(float(q[4]), 4), "mean": round(float(s.mean()), 4)}


def summarize(audiences: Mapping[str, pd.DataFrame], campaigns: Sequence[Campaign], params: Mapping[str, Any],
              assumptions: CostAssumptions, *, stats: Mapping[str, Any] | None = None,
              warnings: Sequence[str] = ()) -> dict[str, Any]:
    by_id = {c.campaign_id: c for c in campaigns}
    rows: list[dict[str, Any]] = []
    for cid, a in audiences.items():
        c = by_id[cid]
        target = a[a["group"] == "target"]
        cost, capped = estimate_cost(c.bid_type, c.bid, len(target), c.total_budget, assumptions)
        counts, edges = np.histogram(a["score"].to_numpy(np.float64), bins=10) if len(a) else (np.zeros(0), np.zeros(0))
        rows.append({"campaign_id": cid, "lookalike": c.is_lookalike, "bid_type": c.bid_type, "bid": c.bid,
                     "total_budget": c.total_budget, "reach": int(len(a)), "reach_target": int(len(target)),
                     "reach_holdout": int(len(a) - len(target)), "short_of_size": int(max(0, params["size"] - len(a))),
                     "score": _score_stats(a["score"].to_numpy()),
                     "score_histogram": {"edges": [round(float(e), 4) for e in edges], "counts": counts.tolist()},
                     "estimated_cost": round(cost, 2), "cost_capped_by_budget": capped})
    ids, jac = overlap_matrix(audiences)
    overlap: dict[str, Any] = {"measure": "jaccard", "campaign_ids": ids}
    if len(ids) <= MAX_MATRIX:
        overlap["matrix"] = np.round(jac, 4).tolist()
    iu = np.triu_indices(len(ids), k=1)
    vals = jac[iu]
    top = np.argsort(-vals, kind="stable")[:TOP_PAIRS]
    overlap["top_pairs"] = [{"a": ids[iu[0][t]], "b": ids[iu[1][t]], "jaccard": round(float(vals[t]), 4)}
                            for t in top if vals[t] > 0]
    overlap["mean_jaccard"] = round(float(vals.mean()), 4) if len(vals) else 0.0
    all_users = pd.concat([a["user_id"] for a in audiences.values()]) if audiences else pd.Series([], dtype=str)
    total = {"campaigns": len(rows), "rows": int(len(all_users)), "distinct_users": int(all_users.nunique()),
             "holdout_share": round(float(sum(r["reach_holdout"] for r in rows) / max(1, len(all_users))), 4),
             "estimated_cost": round(sum(r["estimated_cost"] for r in rows), 2)}
    return {"parameters": dict(params), "cost_assumptions": {**asdict(assumptions), "formula": (
        "target reach × impressions_per_user × (bid / 1000 for CPM | expected_ctr × bid for CPC), "
        "capped by total_budget")}, "totals": total, "campaigns": rows, "overlap": overlap,
        "stats": dict(stats or {}), "warnings": list(warnings)}


def _cell(v: Any) -> str:
    return html.escape("" if v is None else (f"{v:,.4g}" if isinstance(v, float) else str(v)))


def _table(headers: Sequence[str], body: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    rows = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in r) + "</tr>" for r in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def render_html(summary: Mapping[str, Any]) -> str:
    camps = summary["campaigns"]
    top_reach = max((c["reach"] for c in camps), default=1) or 1
    reach_rows = [[c["campaign_id"], c["bid_type"], c["bid"], c["reach_target"], c["reach_holdout"],
                   c["score"]["p10"], c["score"]["p50"], c["score"]["p90"], c["estimated_cost"],
                   "yes" if c["cost_capped_by_budget"] else ""] for c in camps]
    bars = "".join(f'<div class="bar"><span>{html.escape(c["campaign_id"])}</span>'
                   f'<i style="width:{100 * c["reach"] / top_reach:.1f}%"></i></div>' for c in camps[:MAX_MATRIX])
    ov = summary["overlap"]
    if "matrix" in ov:
        ids = ov["campaign_ids"]
        head = "".join(f"<th>{html.escape(i)}</th>" for i in ids)
        body = "".join(
            f"<tr><th>{html.escape(a)}</th>" + "".join(
                f'<td style="background:rgba(40,90,200,{v:.3f})">{v:.2f}</td>' for v in row) + "</tr>"
            for a, row in zip(ids, ov["matrix"], strict=True))
        overlap_html = f"<table class='m'><tr><th></th>{head}</tr>{body}</table>"
    else:
        overlap_html = _table(["campaign", "campaign", "jaccard"],
                              [[p["a"], p["b"], p["jaccard"]] for p in ov["top_pairs"]])
    params = _table(["parameter", "value"], [[k, v] for k, v in summary["parameters"].items()])
    costs = _table(["assumption", "value"], [[k, v] for k, v in summary["cost_assumptions"].items()])
    totals = _table(["total", "value"], [[k, v] for k, v in summary["totals"].items()])
    warn = "".join(f"<li>{html.escape(w)}</li>" for w in summary["warnings"])
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Audience build</title><style>
body{{font:14px system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}} th{{background:#f3f3f3}}
.bar{{display:flex;align-items:center;gap:8px;margin:2px 0}} .bar span{{width:12em;text-align:right}}
.bar i{{display:block;height:12px;background:#3a6fd8}} .m td{{color:#000;font-size:12px}}
</style></head><body><h1>Audience build</h1>{totals}
<h2>Reach per campaign</h2>{bars}
{_table(["campaign", "bid type", "bid", "target", "holdout", "score p10", "score p50", "score p90",
         "est. cost", "budget cap"], reach_rows)}
<h2>Overlap (Jaccard)</h2>{overlap_html}
<h2>Parameters</h2>{params}<h2>Cost assumptions</h2>{costs}
{f"<h2>Warnings</h2><ul>{warn}</ul>" if warn else ""}
</body></html>"""
