"""The events rules executed row by row, for small batches: what `normalize_events`, `validate_events` and
`event_time_problems` do to a frame, done to a few plain values.

For the service's event batches (1–20 events) building and scanning pandas frames costs several times more
than the checks themselves. `EventRows.of(records)` takes the records `pd.DataFrame(records)` would take and
normalises them exactly as `normalize_events` would; `problems` and `time_problems` report exactly the
problems, in the same order and words, that `validate_events` and `event_time_problems` report on that
normalised frame; `frame` is that normalised frame. The rules' texts come from `recsys.data.rules` and
their limits from `recsys.data.schema`, shared with the frame execution.

Where pandas normalises a whole column by its inferred dtype (integer ids become strings, numbers in a
text column are left for validation to name together with the column's dtype), the result of one value
depends on its neighbours. So this execution takes only values whose normalisation does not: str or
None ids, text and campaign fields, str event types, datetimes (tz-naive ones are UTC), and None, float
or (exactly representable) int ratings, with every required column in every record. For anything else
`of` returns None and the caller runs the frame execution, which handles every input.
tests/unit/test_event_rows.py runs both executions on random and hostile batches and compares them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Container, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from recsys.data import schema as S
from recsys.data.rules import (
    CATALOGUE_RULE,
    EVENT_TYPE_RULE,
    PRODUCT_ID_RULE,
    QUERY_RULE,
    RATING_RULE,
    USER_ID_RULE,
    early_rule,
    late_rule,
    problem,
)
from recsys.data.validation import DEFAULT_MAX_FUTURE_SKEW
from recsys.errors import Problem

__all__ = ["EventRows", "ROWWISE_MAX"]

#: Batches up to this many events are checked row by row; larger ones as frames, where vectorised checks
#: pay for building the frame.
ROWWISE_MAX = 64
_EXACT_INT = 2**53  # ints beyond this do not convert to float exactly, and pandas may keep them as objects


def _id(v: Any) -> str | None:
    return None if v is None or not v.strip() else v  # blank ids become missing, others stay as given


def _timestamp(v: dt.datetime) -> pd.Timestamp:
    t = pd.Timestamp(v)
    return (t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")).as_unit("us")


def _plain(record: Mapping[str, Any]) -> bool:
    """Whether this execution normalises the record as the frame execution would (see the module docstring)."""
    for col in (S.USER_ID, S.PRODUCT_ID, S.TEXT):
        v = record.get(col)
        if v is not None and type(v) is not str:
            return False
    ts, rating = record.get(S.TIMESTAMP), record.get(S.RATING)
    return (all(col in record for col in S.EVENT_REQUIRED) and type(record[S.EVENT_TYPE]) is str
            and isinstance(ts, dt.datetime) and ts is not pd.NaT
            and not (isinstance(ts, pd.Timestamp) and ts.nanosecond)
            and (rating is None or type(rating) is float or (type(rating) is int and abs(rating) < _EXACT_INT)))


class EventRows:
    """Normalised events as one list per canonical column (missing ids None, missing ratings NaN)."""

    def __init__(self, columns: Mapping[str, list[Any]]) -> None:
        self.columns = dict(columns)

    @classmethod
    def of(cls, records: Sequence[Mapping[str, Any]]) -> EventRows | None:
        """The records normalised as `normalize_events(pd.DataFrame(records))` would; None when some value is
        one this execution leaves to the frame execution, or there are no records."""
        if not records or not all(_plain(r) for r in records):
            return None
        return cls({
            S.USER_ID: [_id(r[S.USER_ID]) for r in records],
            S.PRODUCT_ID: [_id(r[S.PRODUCT_ID]) for r in records],
            S.EVENT_TYPE: [r[S.EVENT_TYPE].strip().lower() for r in records],
            S.TIMESTAMP: [_timestamp(r[S.TIMESTAMP]) for r in records],
            S.RATING: [math.nan if (v := r.get(S.RATING)) is None else float(v) for r in records],
            S.TEXT: [r.get(S.TEXT) or "" for r in records],
        })

    def __len__(self) -> int:
        return len(self.columns[S.USER_ID])

    def subset(self, keep: Sequence[bool]) -> EventRows:
        """The rows where `keep` is true, renumbered from 0 (as a filtered frame's positions are)."""
        return EventRows({col: [v for v, k in zip(values, keep, strict=True) if k]
                          for col, values in self.columns.items()})

    def problems(self, product_ids: Container[str] | None, file: str = S.EVENTS_FILE) -> list[Problem]:
        """What `validate_events(self.frame(), product_ids, file)` reports. None of these values can break
        the type rules, so only the value rules are checked."""
        n = len(self)
        if n == 0:
            return []
        c = self.columns
        types, users, pids, texts, ratings = (c[S.EVENT_TYPE], c[S.USER_ID], c[S.PRODUCT_ID], c[S.TEXT],
                                              c[S.RATING])
        out: list[Problem] = []

        def check(col: str, values: list[Any], bad: list[int], rule: Any) -> None:
            if bad:
                out.append(problem(file, col, rule, bad, values.__getitem__))

        check(S.EVENT_TYPE, types, [i for i in range(n) if types[i] not in S.EVENT_TYPES], EVENT_TYPE_RULE)
        check(S.USER_ID, users, [i for i in range(n) if users[i] is None], USER_ID_RULE)
        productless = [t in S.PRODUCTLESS_EVENT_TYPES for t in types]
        check(S.PRODUCT_ID, pids, [i for i in range(n) if pids[i] is None and not productless[i]], PRODUCT_ID_RULE)
        if product_ids is not None:
            check(S.PRODUCT_ID, pids, [i for i in range(n) if pids[i] is not None and pids[i] not in product_ids],
                  CATALOGUE_RULE)
        check(S.TEXT, texts, [i for i in range(n) if productless[i] and pids[i] is None and not texts[i].strip()],
              QUERY_RULE)
        check(S.RATING, ratings, [i for i in range(n) if ratings[i] < S.RATING_MIN or ratings[i] > S.RATING_MAX],
              RATING_RULE)
        return out

    def time_problems(self, file: str, *, now: pd.Timestamp,
                      max_future_skew: pd.Timedelta = DEFAULT_MAX_FUTURE_SKEW, earliest: pd.Timestamp | None = None,
                      clock: str = "the current time", fix: str = "Fix those timestamps or drop those rows.",
                      row: str = "row") -> list[Problem]:
        """What `event_time_problems(self.frame()[timestamp], ...)` reports, with the same arguments."""
        ts = self.columns[S.TIMESTAMP]
        out: list[Problem] = []
        latest = now + max_future_skew
        if late := [i for i, t in enumerate(ts) if t > latest]:
            out.append(problem(file, S.TIMESTAMP, late_rule(now, max_future_skew, clock, fix), late, ts.__getitem__,
                               row))
        if earliest is not None and (early := [i for i, t in enumerate(ts) if t < earliest]):
            out.append(problem(file, S.TIMESTAMP, early_rule(earliest, fix), early, ts.__getitem__, row))
        return out

    def frame(self, **extra: list[Any]) -> pd.DataFrame:
        """The canonical events frame `normalize_events` makes of the same records, followed by the `extra`
        columns (object dtype; None stays None), built at once from arrays rather than column by column
        (a Series per column costs more than the few values in it)."""
        c = self.columns
        return pd.DataFrame({
            S.USER_ID: pd.array(c[S.USER_ID], dtype="str"),
            S.PRODUCT_ID: pd.array(c[S.PRODUCT_ID], dtype="str"),
            S.EVENT_TYPE: pd.array(c[S.EVENT_TYPE], dtype="str"),
            S.TIMESTAMP: pd.array(c[S.TIMESTAMP], dtype="datetime64[us, UTC]"),
            S.RATING: np.array(c[S.RATING], dtype="float64"),
            S.TEXT: pd.array(c[S.TEXT], dtype="str"),
            **{col: _objects(values) for col, values in extra.items()},
        })


def _objects(values: Sequence[Any]) -> np.ndarray:
    """An object array of exactly these values (`np.array` would nest sequences or guess a dtype)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out
