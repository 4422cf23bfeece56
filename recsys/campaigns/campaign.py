"""Ad campaigns: the stable column contract, loading (parquet or JSON lines) and validation.

Columns: campaign_id, advertiser, headline, body, landing_product_ids (list), categories (list),
keywords (list), seed_user_ids (list, lookalike only), bid_type (cpc | cpm), bid, daily_budget,
total_budget, start, end, status (active | paused); optional frequency_cap (impressions per user per
window). Only campaign_id, bid_type, bid and one of landing products / seed users / headline are
required. Budgets left empty are unlimited; an empty start/end leaves the window open on that side.

Validation reports every problem, each naming the campaign and the field, and raises one
`DataValidationError`; nothing is loaded when any campaign is invalid.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from recsys.errors import DataValidationError, Problem

__all__ = ["Campaign", "CAMPAIGN_COLUMNS", "load_campaigns", "parse_campaigns"]

BidType = Literal["cpc", "cpm"]
Status = Literal["active", "paused"]
_BID_TYPES: Final[dict[str, BidType]] = {"cpc": "cpc", "cpm": "cpm"}
_STATUSES: Final[dict[str, Status]] = {"active": "active", "paused": "paused"}
LIST_COLUMNS: Final = ("landing_product_ids", "categories", "keywords", "seed_user_ids")
CAMPAIGN_COLUMNS: Final = ("campaign_id", "advertiser", "headline", "body", *LIST_COLUMNS, "bid_type", "bid",
                           "daily_budget", "total_budget", "start", "end", "status", "frequency_cap")


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    bid_type: BidType
    bid: float
    advertiser: str = ""
    headline: str = ""
    body: str = ""
    landing_product_ids: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    seed_user_ids: tuple[str, ...] = ()
    daily_budget: float | None = None
    total_budget: float | None = None
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    status: Status = "active"
    frequency_cap: int | None = None

    @property
    def is_lookalike(self) -> bool:
        return bool(self.seed_user_ids)

    @property
    def advertiser_key(self) -> str:
        """Advertisers are de-duplicated per answer; a campaign without one stands for itself."""
        return self.advertiser or f"campaign:{self.campaign_id}"

    def live_at(self, now: pd.Timestamp) -> bool:
        return (self.start is None or self.start <= now) and (self.end is None or now < self.end)


def _missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and not v.strip()


def _text(v: Any) -> str:
    return "" if _missing(v) else str(v).strip()


def _as_list(v: Any, where: str, problems: list[Problem], source: str, field: str) -> tuple[str, ...]:
    if _missing(v):
        return ()
    if isinstance(v, str):  # a JSON-lines writer may send "a,b" — accept a comma-separated string
        items: Iterable[Any] = [p for p in v.split(",")]
    elif isinstance(v, (list, tuple, np.ndarray)):
        items = list(v)
    else:
        problems.append(Problem(source, field, f"{where}: expected a list of strings, got {type(v).__name__}",
                                repr(v)[:60]))
        return ()
    return tuple(dict.fromkeys(str(x).strip() for x in items if not _missing(x) and str(x).strip()))


def _number(v: Any, where: str, field: str, problems: list[Problem], source: str, *, required: bool,
            positive: bool) -> float | None:
    if _missing(v):
        if required:
            problems.append(Problem(source, field, f"{where}: {field} is required"))
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        problems.append(Problem(source, field, f"{where}: {field} must be a number", repr(v)[:60]))
        return None
    if not math.isfinite(x) or x < 0 or (positive and x == 0):
        need = "> 0" if positive else ">= 0"
        problems.append(Problem(source, field, f"{where}: {field} must be a finite number {need}", repr(v)))
        return None
    return x


def _time(v: Any, where: str, field: str, problems: list[Problem], source: str) -> pd.Timestamp | None:
    if _missing(v) or v is pd.NaT:
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        problems.append(Problem(source, field, f"{where}: use an ISO 8601 time such as '2026-01-01T00:00:00Z', "
                                               "not an epoch number", repr(v)))
        return None
    try:
        ts = pd.Timestamp(v)
    except (TypeError, ValueError):
        problems.append(Problem(source, field, f"{where}: {field} is not a date/time", repr(v)[:60]))
        return None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _one(row: dict[Hashable, Any], i: int, source: str, problems: list[Problem]) -> Campaign | None:
    cid = _text(row.get("campaign_id"))
    where = f"campaign {cid!r}" if cid else f"row {i}"
    if not cid:
        problems.append(Problem(source, "campaign_id", f"{where}: campaign_id is required"))
    bid_type = _BID_TYPES.get(_text(row.get("bid_type")).lower())
    if bid_type is None:
        problems.append(Problem(source, "bid_type", f"{where}: bid_type must be 'cpc' or 'cpm'",
                                repr(row.get("bid_type"))))
    status_text = _text(row.get("status")).lower() or "active"
    status = _STATUSES.get(status_text)
    if status is None:
        problems.append(Problem(source, "status", f"{where}: status must be 'active' or 'paused'", repr(status_text)))
    bid = _number(row.get("bid"), where, "bid", problems, source, required=True, positive=True)
    daily = _number(row.get("daily_budget"), where, "daily_budget", problems, source, required=False, positive=False)
    total = _number(row.get("total_budget"), where, "total_budget", problems, source, required=False, positive=False)
    cap = _number(row.get("frequency_cap"), where, "frequency_cap", problems, source, required=False, positive=True)
    lists = {f: _as_list(row.get(f), where, problems, source, f) for f in LIST_COLUMNS}
    start, end = (_time(row.get(f), where, f, problems, source) for f in ("start", "end"))
    if start is not None and end is not None and end <= start:
        problems.append(Problem(source, "end", f"{where}: end {end} is not after start {start}"))
    headline = _text(row.get("headline"))
    if not (lists["landing_product_ids"] or lists["seed_user_ids"] or headline):
        problems.append(Problem(source, "landing_product_ids",
                                f"{where}: give landing_product_ids, seed_user_ids (lookalike) or a headline"))
    if cap is not None and cap != int(cap):
        problems.append(Problem(source, "frequency_cap", f"{where}: frequency_cap must be a whole number", repr(cap)))
    if not cid or bid is None or bid_type is None or status is None:
        return None
    return Campaign(campaign_id=cid, bid_type=bid_type, bid=bid, advertiser=_text(row.get("advertiser")),
                    headline=headline, body=_text(row.get("body")), daily_budget=daily, total_budget=total,
                    start=start, end=end, status=status, frequency_cap=None if cap is None else int(cap), **lists)


def parse_campaigns(frame: pd.DataFrame, source: str = "campaigns") -> list[Campaign]:
    """Validate a campaigns frame; return campaigns in file order or raise listing every problem."""
    problems: list[Problem] = []
    unknown = sorted(set(frame.columns) - set(CAMPAIGN_COLUMNS))
    if unknown:
        allowed = ", ".join(CAMPAIGN_COLUMNS)
        problems.append(Problem(source, ", ".join(unknown), f"unknown column(s); allowed: {allowed}"))
    if "campaign_id" not in frame.columns:
        problems.append(Problem(source, "campaign_id", "the campaign_id column is missing"))
        raise DataValidationError(problems)
    out = [_one(row, i, source, problems) for i, row in enumerate(frame.to_dict("records"))]
    counts = frame["campaign_id"].map(_text).value_counts()
    dupes = sorted(str(c) for c, n in counts.items() if n > 1 and c)
    if dupes:
        problems.append(Problem(source, "campaign_id", "campaign ids must be unique", ", ".join(dupes[:3])))
    if not len(frame):
        problems.append(Problem(source, "", "the file holds no campaigns"))
    if problems:
        raise DataValidationError(problems)
    return [c for c in out if c is not None]


def load_campaigns(path: str | Path) -> list[Campaign]:
    """Read campaigns from .parquet or JSON lines (.jsonl/.ndjson/.json, one object per line)."""
    path = Path(path)
    if not path.is_file():
        raise DataValidationError([Problem(str(path), "", "campaigns file not found; pass --campaigns FILE "
                                                          "(.parquet or .jsonl)")])
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif path.suffix in (".jsonl", ".ndjson", ".json"):
        rows: list[dict[str, Any]] = []
        problems: list[Problem] = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(Problem(str(path), "", f"line {n} is not JSON: {exc.msg}", line[:60]))
                continue
            if not isinstance(obj, dict):
                problems.append(Problem(str(path), "", f"line {n} is not a JSON object", line[:60]))
                continue
            rows.append(obj)
        if problems:
            raise DataValidationError(problems)
        frame = pd.DataFrame(rows)
    else:
        raise DataValidationError([Problem(str(path), "", "campaigns must be .parquet or JSON lines (.jsonl)")])
    return parse_campaigns(frame, str(path))
