"""Check products and events frames against the canonical schema (``recsys.data.schema``).

Pure functions, no I/O. They return *every* problem found, never stop at the first, so one run shows the
user everything to fix. They are meant for frames already passed through ``recsys.data.dataset.normalize_*``
(which fills optional columns, casts integer ids to ``str`` and parses timestamps); on raw frames they
report whatever the normaliser would not have fixed.

Rows are named by 0-based position in the frame (for a freshly read parquet file: its row number).
Timestamps must be datetimes or ISO 8601 strings; numbers (epoch seconds/ms/us) are rejected because
their unit is ambiguous.

Time bounds (``event_time_problems``). Profiles decay an event's weight by its age as of the time of the
question, so one event dated far in the future would outweigh every real one for as long as it is stored.
Events later than a clock (the build's wall-clock time, the server's receive time) plus a skew
(``DEFAULT_MAX_FUTURE_SKEW``, one day: clients' clocks and time zones drift) are therefore refused. The
service also refuses events before ``EARLIEST_EVENT`` (1990-01-01 UTC, older than web commerce): such
values are nearly always a missing date written as epoch 0. The build does not apply that lower bound,
because order-only datasets legitimately encode each user's sequence as seconds after 1970-01-01.
"""

from __future__ import annotations

import datetime as dt
import decimal
import numbers
from typing import Any

import numpy as np
import pandas as pd

from recsys.data import schema
from recsys.data.rules import (
    CATALOGUE_RULE,
    EVENT_TYPE_RULE,
    PRODUCT_ID_RULE,
    QUERY_RULE,
    RATING_RULE,
    USER_ID_RULE,
    Rule,
    early_rule,
    is_null,
    late_rule,
    non_empty,
    problem,
)
from recsys.errors import Problem

__all__ = ["validate_products", "validate_events", "event_time_problems", "parse_timestamps", "blank_mask",
           "non_string_mask", "non_number_mask", "DEFAULT_MAX_FUTURE_SKEW", "EARLIEST_EVENT"]

#: How far after the reference clock an event may be dated (see "Time bounds" in the module docstring).
DEFAULT_MAX_FUTURE_SKEW = pd.Timedelta(days=1)
#: The earliest event time the service accepts (see "Time bounds" in the module docstring).
EARLIEST_EVENT = pd.Timestamp("1990-01-01", tz="UTC")


def _as_plain(s: pd.Series) -> pd.Series:
    return s.astype(object) if isinstance(s.dtype, pd.CategoricalDtype) else s


def blank_mask(s: pd.Series) -> np.ndarray:
    """True where a cell is null or a whitespace-only string."""
    s = _as_plain(s)
    if isinstance(s.dtype, pd.StringDtype):
        return (s.isna() | (s.str.strip() == "")).to_numpy(dtype=bool, na_value=True)
    if s.dtype == object:
        return s.map(lambda v: is_null(v) or (isinstance(v, str) and not v.strip())).to_numpy(dtype=bool)
    return s.isna().to_numpy(dtype=bool)


def non_string_mask(s: pd.Series) -> np.ndarray:
    """True where a non-null cell is not a ``str``."""
    s = _as_plain(s)
    if isinstance(s.dtype, pd.StringDtype):
        return np.zeros(len(s), dtype=bool)
    if s.dtype == object:
        return s.map(lambda v: not (isinstance(v, str) or is_null(v))).to_numpy(dtype=bool)
    return s.notna().to_numpy(dtype=bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (numbers.Real, decimal.Decimal)) and not isinstance(value, (bool, np.bool_))


def non_number_mask(s: pd.Series) -> np.ndarray:
    """True where a non-null cell is not a real number (bools count as not numbers)."""
    s = _as_plain(s)
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return np.zeros(len(s), dtype=bool)
    if s.dtype == object:
        return s.map(lambda v: not (_is_number(v) or is_null(v))).to_numpy(dtype=bool)
    return s.notna().to_numpy(dtype=bool)


def parse_timestamps(s: pd.Series) -> pd.Series | None:
    """Parse to ``datetime64[us, UTC]``; NaT where null or unparseable. None for numeric columns.

    tz-naive datetimes are taken as UTC; strings must be ISO 8601 (an offset, if any, is honoured).
    """
    s = _as_plain(s)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC").dt.as_unit("us")
    if pd.api.types.is_datetime64_dtype(s.dtype):
        return s.dt.tz_localize("UTC").dt.as_unit("us")
    if not (isinstance(s.dtype, pd.StringDtype) or s.dtype == object):
        return None
    # Numbers inside an object column would be read as epoch nanoseconds: blank them, they count as bad.
    ok = s.map(lambda v: isinstance(v, (str, dt.date))).astype(bool)
    cleaned = s.astype(object).where(ok, None)
    parsed = pd.to_datetime(cleaned, utc=True, format="ISO8601", errors="coerce")
    return pd.Series(parsed, index=s.index, name=s.name).dt.as_unit("us")


def _rule_problem(file: str, s: pd.Series, mask: np.ndarray, rule: Rule, row: str = "row") -> Problem:
    """`rules.problem` for all rows in ``mask`` (see there)."""
    return problem(file, str(s.name), rule, np.flatnonzero(mask), s.iloc.__getitem__, row)


def _rows_problem(file: str, s: pd.Series, mask: np.ndarray, expected: str, fix: str, row: str = "row") -> Problem:
    return _rule_problem(file, s, mask, Rule(expected, fix), row)


def _missing_columns(df: pd.DataFrame, required: tuple[str, ...], file: str) -> list[Problem]:
    have = ", ".join(map(str, df.columns)) or "none"
    return [
        Problem(file, col, f"expected required column {col!r}; found columns: {have}. Add or rename it.")
        for col in required
        if col not in df.columns
    ]


def _string_problem(df: pd.DataFrame, col: str, file: str) -> Problem | None:
    bad = non_string_mask(df[col])
    if not bad.any():
        return None
    return _rows_problem(file, df[col], bad, f"text (str), dtype {df[col].dtype} given",
                         f"Store {col} as strings.")


def _number_problem(df: pd.DataFrame, col: str, file: str) -> Problem | None:
    bad = non_number_mask(df[col])
    if not bad.any():
        return None
    return _rows_problem(file, df[col], bad, f"numbers (float) or null, dtype {df[col].dtype} given",
                         f"Store {col} as a numeric column; use null for unknown.")


def _null_problem(df: pd.DataFrame, col: str, file: str, null: np.ndarray, where: str) -> Problem | None:
    if not null.any():
        return None
    return _rule_problem(file, df[col], null, non_empty(col, where))


def validate_products(df: pd.DataFrame, file: str = schema.PRODUCTS_FILE) -> list[Problem]:
    """Every way ``df`` breaks the products schema; [] when it is fine."""
    problems = _missing_columns(df, schema.PRODUCT_REQUIRED, file)
    if len(df) == 0:
        problems.append(Problem(file, "", "expected at least one product; found 0 rows. "
                                          "Export the catalogue before building."))
        return problems
    if schema.PRODUCT_ID in df.columns:
        if (p := _string_problem(df, schema.PRODUCT_ID, file)) is not None:
            problems.append(p)
        else:
            ids = df[schema.PRODUCT_ID]
            null = blank_mask(ids)
            if (p := _null_problem(df, schema.PRODUCT_ID, file, null, "every row")) is not None:
                problems.append(p)
            dup = ids.duplicated(keep="first").to_numpy(dtype=bool) & ~null
            if dup.any():
                problems.append(_rows_problem(file, ids, dup, "each product_id once",
                                              "Keep one row per product_id."))
    for col in schema.PRODUCT_TEXT_COLUMNS:
        if col in df.columns and (p := _string_problem(df, col, file)) is not None:
            problems.append(p)
    if schema.PRICE in df.columns:
        if (p := _number_problem(df, schema.PRICE, file)) is not None:
            problems.append(p)
        else:
            price = pd.to_numeric(df[schema.PRICE], errors="coerce").astype("float64")
            bad = (price.lt(0) | np.isinf(price)).to_numpy(dtype=bool)
            if bad.any():
                problems.append(_rows_problem(file, df[schema.PRICE], bad, "a finite price >= 0 or null",
                                              "Fix the price or set it to null."))
    return problems


def validate_events(
    df: pd.DataFrame,
    product_ids: pd.Index | set[str] | None,
    file: str = schema.EVENTS_FILE,
) -> list[Problem]:
    """Every way ``df`` breaks the events schema; [] when it is fine.

    ``product_ids`` is the catalogue; None skips the is-it-in-the-catalogue check (use when the catalogue
    itself is broken, to avoid one complaint per event). A frame with no rows is valid whatever its columns.
    """
    if len(df) == 0:
        return []
    problems = _missing_columns(df, schema.EVENT_REQUIRED, file)
    n = len(df)
    productless = np.zeros(n, dtype=bool)
    if schema.EVENT_TYPE in df.columns:
        types = df[schema.EVENT_TYPE]
        productless = types.isin(schema.PRODUCTLESS_EVENT_TYPES).to_numpy(dtype=bool)
        unknown = ~types.isin(schema.EVENT_TYPES).to_numpy(dtype=bool)
        if unknown.any():
            problems.append(_rule_problem(file, types, unknown, EVENT_TYPE_RULE))
    if schema.USER_ID in df.columns:
        p = _string_problem(df, schema.USER_ID, file)
        if p is None and (null := blank_mask(df[schema.USER_ID])).any():
            p = _rule_problem(file, df[schema.USER_ID], null, USER_ID_RULE)
        if p is not None:
            problems.append(p)
    text_problem = _string_problem(df, schema.TEXT, file) if schema.TEXT in df.columns else None
    if text_problem is not None:
        problems.append(text_problem)
    if schema.PRODUCT_ID in df.columns:
        if (p := _string_problem(df, schema.PRODUCT_ID, file)) is not None:
            problems.append(p)
        else:
            pids = df[schema.PRODUCT_ID]
            no_pid = blank_mask(pids)
            if (missing := no_pid & ~productless).any():
                problems.append(_rule_problem(file, pids, missing, PRODUCT_ID_RULE))
            if product_ids is not None:
                known = product_ids if isinstance(product_ids, pd.Index) else list(product_ids)
                unknown_pid = ~no_pid & ~pids.isin(known).to_numpy(dtype=bool)
                if unknown_pid.any():
                    problems.append(_rule_problem(file, pids, unknown_pid, CATALOGUE_RULE))
            if text_problem is None:
                text = df[schema.TEXT] if schema.TEXT in df.columns else pd.Series("", index=df.index, name=schema.TEXT)
                no_query = productless & no_pid & blank_mask(text)
                if no_query.any():
                    problems.append(_rule_problem(file, text, no_query, QUERY_RULE))
    if schema.TIMESTAMP in df.columns:
        problems += _timestamp_problems(df[schema.TIMESTAMP], file)
    if schema.RATING in df.columns:
        if (p := _number_problem(df, schema.RATING, file)) is not None:
            problems.append(p)
        else:
            rating = pd.to_numeric(df[schema.RATING], errors="coerce").astype("float64")
            bad = (rating.lt(schema.RATING_MIN) | rating.gt(schema.RATING_MAX)).to_numpy(dtype=bool)
            if bad.any():
                problems.append(_rule_problem(file, df[schema.RATING], bad, RATING_RULE))
    return problems


def _timestamp_problems(ts: pd.Series, file: str) -> list[Problem]:
    parsed = parse_timestamps(ts)
    if parsed is None:
        return [_rows_problem(file, ts, ts.notna().to_numpy(dtype=bool),
                              f"datetimes or ISO 8601 strings, dtype {ts.dtype} given (epoch numbers are "
                              "ambiguous)", "Convert first, e.g. pd.to_datetime(col, unit='s', utc=True).")]
    problems = []
    null = blank_mask(ts)
    if null.any():
        problems.append(_rows_problem(file, ts, null, "a timestamp on every event", "Fill it or drop those rows."))
    unparseable = parsed.isna().to_numpy(dtype=bool) & ~null
    if unparseable.any():
        problems.append(_rows_problem(file, ts, unparseable, "an ISO 8601 timestamp such as '2018-08-22T10:00:00Z'",
                                      "Fix the value or drop those rows."))
    return problems


def event_time_problems(
    ts: pd.Series,
    file: str,
    *,
    now: pd.Timestamp,
    max_future_skew: pd.Timedelta = DEFAULT_MAX_FUTURE_SKEW,
    earliest: pd.Timestamp | None = None,
    clock: str = "the current time",
    fix: str = "Fix those timestamps or drop those rows.",
    row: str = "row",
) -> list[Problem]:
    """Rows of ``ts`` dated more than ``max_future_skew`` after ``now``, or before ``earliest`` (None: no
    lower bound); [] when none is. ``clock`` says in the message what ``now`` is (e.g. "the server's
    receive time"). Values that do not parse are left to ``validate_events`` to report."""
    parsed = parse_timestamps(ts)
    if parsed is None or not len(parsed):
        return []
    problems = []
    latest = now + max_future_skew
    late = (parsed > latest).to_numpy(dtype=bool, na_value=False)
    if late.any():
        problems.append(_rule_problem(file, ts, late, late_rule(now, max_future_skew, clock, fix), row))
    if earliest is not None:
        early = (parsed < earliest).to_numpy(dtype=bool, na_value=False)
        if early.any():
            problems.append(_rule_problem(file, ts, early, early_rule(earliest, fix), row))
    return problems
