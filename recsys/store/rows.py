"""What every `EventStore` backend shares: canonical frames to rows, rows back to frames, and the stored form
of an idempotency key's result.

Both backends keep times as integer microseconds since the epoch (UTC) and read rows back through the same
`frame`/`ad_frame`, so the frames they return are identical in columns, dtypes and values.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from recsys.data import schema as S
from recsys.store.base import (
    CAMPAIGN_ID,
    EVENT_ID,
    RECEIVED_AT,
    SEQ,
    STORED_COLUMNS,
    AppendResult,
    IdempotencyConflictError,
    IdempotencyKey,
)

__all__ = ["Row", "us", "rows", "frame", "tail_frame", "ad_frame", "result_json", "replayed", "conflict"]

#: One event as both backends insert it: tenant, user_id, product_id, event_type, ts_us, rating, text,
#: received_us, campaign_id, event_id.
Row = tuple[str, str | None, str | None, str, int, float | None, str, int, str | None, str | None]


def us(ts: pd.Timestamp) -> int:
    return int(ts.value // 1000)


def _missing(v: object) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def _optional(events: pd.DataFrame, col: str) -> list[str | None]:
    if col not in events.columns:
        return [None] * len(events)
    return [None if _missing(v) else str(v) for v in events[col].tolist()]


def _micros(ts: pd.Series) -> list[int]:
    """Each time as integer microseconds since the epoch, floored like `us` (whatever the column's unit)."""
    values = ts.array
    if not isinstance(values, pd.arrays.DatetimeArray):
        return [us(t) for t in ts]
    unit = values.unit
    ticks = np.asarray(values.view("i8"))
    if unit == "ns":
        return (ticks // 1000).tolist()
    return (ticks * {"s": 1_000_000, "ms": 1000, "us": 1}[unit]).tolist()


def rows(tenant: str, events: pd.DataFrame, received_us: int) -> list[Row]:
    """The canonical frame as insertable rows. A missing user id stays None, so the database's NOT NULL
    refuses the batch instead of storing a made-up id. Read column by column as plain Python values (a
    service batch is a few events, where per-column pandas operations would cost more than the rows)."""
    return [
        (tenant, u if isinstance(u, str) else None, None if _missing(p) or p == "" else str(p), str(t), ts,
         None if _missing(r) else float(r), "" if _missing(x) else str(x or ""), received_us, c, e)
        for u, p, t, ts, r, x, c, e in zip(events[S.USER_ID].tolist(), events[S.PRODUCT_ID].tolist(),
                                           events[S.EVENT_TYPE].tolist(), _micros(events[S.TIMESTAMP]),
                                           events[S.RATING].tolist(), events[S.TEXT].tolist(),
                                           _optional(events, CAMPAIGN_ID), _optional(events, EVENT_ID),
                                           strict=True)
    ]


def frame(records: list[tuple]) -> pd.DataFrame:
    """Rows of (user_id, product_id, event_type, ts_us, rating, text, seq, received_us, event_id) as stored events."""
    cols = list(zip(*records, strict=True)) if records else [()] * 9
    return pd.DataFrame({
        S.USER_ID: pd.Series(cols[0], dtype="str"),
        S.PRODUCT_ID: pd.Series(list(cols[1]), dtype="str"),  # NULL (product-less search) stays missing
        S.EVENT_TYPE: pd.Series(cols[2], dtype="str"),
        S.TIMESTAMP: pd.to_datetime(pd.Series(cols[3], dtype="int64"), unit="us", utc=True),
        S.RATING: pd.Series(cols[4], dtype="float64"),
        S.TEXT: pd.Series(cols[5], dtype="str"),
        SEQ: pd.Series(cols[6], dtype="int64"),
        RECEIVED_AT: pd.to_datetime(pd.Series(cols[7], dtype="int64"), unit="us", utc=True),
        EVENT_ID: pd.Series(list(cols[8]), dtype=object),
    })[list(STORED_COLUMNS)]


def tail_frame(records: list[tuple]) -> pd.DataFrame:
    """Rows of `frame`'s nine columns plus campaign_id, as `EventStore.events_after` returns them."""
    out = frame([r[:9] for r in records])
    out[CAMPAIGN_ID] = pd.Series([r[9] for r in records], dtype=object)
    return out


def ad_frame(records: list[tuple]) -> pd.DataFrame:
    """Rows of (campaign_id, user_id, event_type, ts_us) as `EventStore.ad_events` returns them."""
    cols = list(zip(*records, strict=True)) if records else [()] * 4
    return pd.DataFrame({
        CAMPAIGN_ID: pd.Series(cols[0], dtype="str"),
        S.USER_ID: pd.Series(cols[1], dtype="str"),
        S.EVENT_TYPE: pd.Series(cols[2], dtype="str"),
        S.TIMESTAMP: pd.to_datetime(pd.Series(cols[3], dtype="int64"), unit="us", utc=True),
    })


def result_json(r: AppendResult) -> str:
    return json.dumps({"count": r.count, "first_seq": r.first_seq, "last_seq": r.last_seq,
                       "duplicates": r.duplicates, "received_us": us(r.received_at)})


def replayed(result: str, n_rows: int) -> AppendResult:
    d = json.loads(result)
    return AppendResult(d["count"], d["first_seq"], d["last_seq"],
                        pd.Timestamp(d["received_us"] * 1000, tz="UTC"), d["duplicates"], (False,) * n_rows, True)


def conflict(idempotency: IdempotencyKey, created_us: int) -> IdempotencyConflictError:
    """The error for a key first stored (at `created_us`) with another batch's fingerprint."""
    first = pd.Timestamp(int(created_us) * 1000, tz="UTC").isoformat()
    return IdempotencyConflictError(
        f"idempotency key {idempotency.key!r} was first used at {first} for a different batch of events; "
        "a key names one batch. Resend exactly that batch to get its answer again, or use a new key for a "
        "new batch")
