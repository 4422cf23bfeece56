"""Read a dataset folder into canonical frames: the I/O edge in front of ``recsys.data.validation``.

A dataset folder holds ``products.parquet`` (required) and ``events.parquet`` (optional: a catalogue with
no events can still be built). ``normalize_*`` bring a frame as close to the canonical schema as can be
done without guessing; ``validate_dataset`` then raises one ``DataValidationError`` listing every problem
left in both frames. What the normalisers do:

* optional columns that are missing or null become '' (text) or NaN (``price``, ``rating``, float64);
* integer ids (and integral floats) are cast to ``str``; empty ids become null; other non-string ids
  are left for validation to report;
* timestamps become ``datetime64[us, UTC]``: tz-aware datetimes are converted, tz-naive ones are taken
  as UTC, strings must be ISO 8601. Numbers (epoch seconds/ms/us) are *rejected* by validation, because
  their unit is ambiguous; convert them yourself with ``pd.to_datetime(col, unit=..., utc=True)``;
* ``event_type`` is stripped and lowercased;
* columns come out in canonical order; extra columns are dropped.

Values the normalisers cannot fix (text where numbers belong, unparseable timestamps) are left as they
are so that the validation message can name them.

Future events. Loading refuses events dated more than ``max_future_skew`` (default one day) after the
wall-clock time of the load (or an injected ``now``): an event from the future would outweigh every real
one in the recency-weighted profiles and signals (see "Time bounds" in ``recsys.data.validation``).

Event order. ``Dataset.events`` is sorted by (user_id, timestamp), and that order is each user's
sequence (leave-one-out splits and "what follows what" features read it). Events of one user with the
same timestamp are **never ordered by product id**: on data whose timestamps are days, or only an order,
an id tie-break makes a sequence model learn catalogue id order instead of behaviour (in the Amazon 2014
Beauty sequences, whose same-day reviews were sorted by product id, 69% of consecutive pairs ascend in
id order against ~50% expected). ``same_time_order`` chooses how such ties are ordered:

* ``"source"``: a stable sort, so same-timestamp events keep the input's row order. The row order of
  a parquet file is the source order (for a partitioned parquet folder: the order in which pyarrow
  reads its parts), and so is the row order of an in-memory frame passed to ``make_dataset``.
* ``"random"``: same-timestamp events are ordered by a seeded hash of each event's content (user,
  product, type, timestamp, rating, text), reproducible for a ``seed`` and independent of the input's
  row order. It applies where the rows have no source order: frames assembled from an unordered query
  (SQL without ORDER BY, partitions concatenated in arbitrary order), or a file that was itself written
  sorted by product within equal timestamps, whose "source order" is id order again.
* ``"auto"`` (default): ``"source"``, unless the source order of the ties is evidently id order (at
  least ``ID_SORTED_MIN_PAIRS`` consecutive same-user, same-timestamp pairs of different products, and
  all of them ascending, or all descending, in product id); then ``"random"``. The shipped
  amazon2018_gift_cards file is such a file: its 1,722 same-timestamp pairs all ascend in id.
  ``Dataset.same_time_order`` records which order was applied.
"""

from __future__ import annotations

import hashlib
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd

from recsys.data import schema
from recsys.data.validation import (
    DEFAULT_MAX_FUTURE_SKEW,
    blank_mask,
    event_time_problems,
    non_number_mask,
    non_string_mask,
    parse_timestamps,
    validate_events,
    validate_products,
)
from recsys.errors import ConfigError, DataValidationError, Problem

__all__ = [
    "Dataset",
    "load_dataset",
    "empty_events",
    "make_dataset",
    "normalize_products",
    "normalize_events",
    "validate_dataset",
    "order_events",
    "ties_in_id_order",
    "SameTimeOrder",
    "SAME_TIME_ORDERS",
]

SameTimeOrder = Literal["auto", "source", "random"]
SAME_TIME_ORDERS: tuple[str, ...] = get_args(SameTimeOrder)
ID_SORTED_MIN_PAIRS = 20  # fewer same-time pairs than this cannot show a file was sorted by id (2^-20 by chance)


@dataclass(frozen=True, eq=False)  # eq=False: DataFrames have no truth value, so no field-wise __eq__
class Dataset:
    """Canonical, validated products and events; ``source`` says where they came from."""

    products: pd.DataFrame
    events: pd.DataFrame
    source: str
    same_time_order: str = "source"  # how same-timestamp events were ordered: "source" or "random"

    def fingerprint(self) -> str:
        """16 hex chars of sha256 over both frames' columns and values (not ``source``); stable across runs."""
        digest = hashlib.sha256()
        for name, frame in (("products", self.products), ("events", self.events)):
            digest.update(f"{name}|{len(frame)}|{'|'.join(map(str, frame.columns))}\n".encode())
            digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        return digest.hexdigest()[:16]


def _plain(s: pd.Series) -> pd.Series:
    return s.astype(object) if isinstance(s.dtype, pd.CategoricalDtype) else s


def _all_strings(s: pd.Series) -> bool:
    return (isinstance(s.dtype, pd.StringDtype) or s.dtype == object) and not non_string_mask(s).any()


def _normalize_id(s: pd.Series) -> pd.Series:
    s = _plain(s)
    if pd.api.types.is_bool_dtype(s.dtype):
        return s
    if pd.api.types.is_float_dtype(s.dtype):
        values = s.dropna().to_numpy()
        if not (np.isfinite(values).all() and np.array_equal(values, np.floor(values))):
            return s
        s = s.astype("Int64")
    if pd.api.types.is_integer_dtype(s.dtype):
        return s.astype("str")
    if s.dtype == object:
        s = s.map(lambda v: str(v) if isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) else v)
    if not _all_strings(s):
        return s
    s = s.astype("str")
    return s.mask(blank_mask(s))


def _normalize_text(s: pd.Series | None, index: pd.Index) -> pd.Series:
    if s is None or bool(s.isna().all()):
        return pd.Series("", index=index, dtype="str")
    s = _plain(s)
    return s.fillna("").astype("str") if _all_strings(s) else s


def _normalize_number(s: pd.Series | None, index: pd.Index) -> pd.Series:
    if s is None or bool(s.isna().all()):
        return pd.Series(np.nan, index=index, dtype="float64")
    s = _plain(s)
    if pd.api.types.is_bool_dtype(s.dtype):
        return s
    if pd.api.types.is_numeric_dtype(s.dtype):
        return s.astype("float64")
    # Objects holding only numbers (e.g. Decimal from a parquet decimal column) convert; strings such as
    # "12.99" stay as they are, for validation to report.
    if s.dtype == object and not non_number_mask(s).any():
        return pd.to_numeric(s).astype("float64")
    return s


def _normalize_timestamp(s: pd.Series) -> pd.Series:
    parsed = parse_timestamps(s)
    if parsed is None or bool((parsed.isna().to_numpy() & ~blank_mask(s)).any()):
        return s  # keep the raw values so validation can show them
    return parsed


def normalize_products(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` in canonical column order, optional columns filled; see the module docstring."""
    out: dict[str, pd.Series] = {}
    for col in schema.PRODUCT_COLUMNS:
        raw = df[col] if col in df.columns else None
        if col == schema.PRODUCT_ID:
            if raw is not None:
                out[col] = _normalize_id(raw)
        elif col == schema.PRICE:
            out[col] = _normalize_number(raw, df.index)
        else:
            out[col] = _normalize_text(raw, df.index)
    return pd.DataFrame(out, index=df.index)


def empty_events() -> pd.DataFrame:
    """A canonical events frame with no rows."""
    return pd.DataFrame({
        schema.USER_ID: pd.Series([], dtype="str"),
        schema.PRODUCT_ID: pd.Series([], dtype="str"),
        schema.EVENT_TYPE: pd.Series([], dtype="str"),
        schema.TIMESTAMP: pd.Series([], dtype="datetime64[us, UTC]"),
        schema.RATING: pd.Series([], dtype="float64"),
        schema.TEXT: pd.Series([], dtype="str"),
    })


def normalize_events(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` in canonical column order, optional columns filled; see the module docstring.

    A frame with no rows becomes the canonical empty events frame, whatever its columns.
    """
    if len(df) == 0:
        return empty_events()
    out: dict[str, pd.Series] = {}
    for col in schema.EVENT_COLUMNS:
        raw = df[col] if col in df.columns else None
        if raw is None and col in schema.EVENT_REQUIRED:
            continue  # left missing: validation reports it
        if col in (schema.USER_ID, schema.PRODUCT_ID):
            out[col] = _normalize_id(raw)  # type: ignore[arg-type]
        elif col == schema.EVENT_TYPE:
            s = _plain(raw)  # type: ignore[arg-type]
            out[col] = s.map(lambda v: v.strip().lower() if isinstance(v, str) else v).astype(
                "str" if _all_strings(s) else object)
        elif col == schema.TIMESTAMP:
            out[col] = _normalize_timestamp(raw)  # type: ignore[arg-type]
        elif col == schema.RATING:
            out[col] = _normalize_number(raw, df.index)
        else:
            out[col] = _normalize_text(raw, df.index)
    return pd.DataFrame(out, index=df.index)


def validate_dataset(
    products: pd.DataFrame,
    events: pd.DataFrame,
    *,
    products_file: str = schema.PRODUCTS_FILE,
    events_file: str = schema.EVENTS_FILE,
    now: pd.Timestamp | None = None,
    max_future_skew: pd.Timedelta = DEFAULT_MAX_FUTURE_SKEW,
) -> None:
    """Raise one ``DataValidationError`` listing every problem in both (normalised) frames, including events
    dated more than ``max_future_skew`` after ``now`` (None: the wall-clock time of the call)."""
    problems = validate_products(products, products_file)
    # Without a usable product_id column every event would be "unknown": skip that check instead.
    catalogue: pd.Index | None = None
    if schema.PRODUCT_ID in products.columns and not non_string_mask(products[schema.PRODUCT_ID]).any():
        catalogue = pd.Index(products[schema.PRODUCT_ID].dropna())
    problems += validate_events(events, catalogue, events_file)
    if schema.TIMESTAMP in events.columns:
        problems += event_time_problems(
            events[schema.TIMESTAMP], events_file, now=_utc_now(now), max_future_skew=max_future_skew,
            clock="the wall-clock time of this load",
            fix="Fix the clock or time zone that wrote them, or drop those rows.")
    if problems:
        raise DataValidationError(problems)


def make_dataset(
    products: pd.DataFrame,
    events: pd.DataFrame | None = None,
    source: str = "memory",
    *,
    same_time_order: SameTimeOrder = "auto",
    seed: int = 0,
    now: pd.Timestamp | None = None,
    max_future_skew: pd.Timedelta = DEFAULT_MAX_FUTURE_SKEW,
) -> Dataset:
    """Normalise, validate and package in-memory frames; events sorted by (user, time), see "Event order".
    Events more than ``max_future_skew`` after ``now`` (None: the wall-clock time) are refused."""
    _check_order(same_time_order)
    return _finish(normalize_products(products), normalize_events(events if events is not None else empty_events()),
                   source, schema.PRODUCTS_FILE, schema.EVENTS_FILE, same_time_order, seed,
                   _TimeBound(_utc_now(now), max_future_skew))


@dataclass(frozen=True)
class _TimeBound:
    """The clock events are checked against and how far after it they may be dated."""

    now: pd.Timestamp
    max_future_skew: pd.Timedelta


def _utc_now(now: pd.Timestamp | None) -> pd.Timestamp:
    if now is None:
        return pd.Timestamp.now(tz="UTC")
    now = pd.Timestamp(now)
    return now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")


def _check_order(same_time_order: str) -> None:
    if same_time_order not in SAME_TIME_ORDERS:
        raise ConfigError(f"same_time_order must be one of {', '.join(SAME_TIME_ORDERS)}, got {same_time_order!r}")


def _tie_hash(events: pd.DataFrame, seed: int) -> np.ndarray:
    """A seeded pseudo-random uint64 per event from its content (not its row position)."""
    key = hashlib.blake2b(f"same-time-order:{seed}".encode(), digest_size=8).hexdigest()  # 16 chars
    return pd.util.hash_pandas_object(events, index=False, hash_key=key).to_numpy()


def ties_in_id_order(events: pd.DataFrame, min_pairs: int = ID_SORTED_MIN_PAIRS) -> bool:
    """Whether the same-timestamp events of ``events`` (sorted by user, time) are evidently in id order.

    True when at least ``min_pairs`` consecutive pairs share user and timestamp but not product, and all
    of them ascend in product id (string order), or all descend.
    """
    if len(events) < 2:
        return False
    users = events[schema.USER_ID].to_numpy(dtype=object)
    times = pd.factorize(events[schema.TIMESTAMP])[0]  # equal codes = equal timestamps
    ids = events[schema.PRODUCT_ID].to_numpy(dtype=object)
    has_id = np.array([isinstance(v, str) for v in ids])
    pair = (users[1:] == users[:-1]) & (times[1:] == times[:-1]) & has_id[1:] & has_id[:-1]
    pair &= ids[1:] != ids[:-1]
    if pair.sum() < min_pairs:
        return False
    ascending = ids[1:][pair] > ids[:-1][pair]
    return bool(ascending.all() or not ascending.any())


def _sort_events(events: pd.DataFrame, same_time_order: SameTimeOrder, seed: int) -> tuple[pd.DataFrame, str]:
    _check_order(same_time_order)
    keys = [schema.USER_ID, schema.TIMESTAMP]
    ordered = events.sort_values(keys, kind="stable")
    if same_time_order == "auto":
        same_time_order = "random" if ties_in_id_order(ordered) else "source"
    if same_time_order == "random" and len(events):
        tie = "__same_time_tie"
        ordered = events.assign(**{tie: _tie_hash(events, seed)}).sort_values(keys + [tie], kind="stable")
        ordered = ordered.drop(columns=tie)
    return ordered, same_time_order


def order_events(events: pd.DataFrame, same_time_order: SameTimeOrder = "auto", seed: int = 0) -> pd.DataFrame:
    """Canonical events sorted by (user, timestamp), same-timestamp ties as in the module docstring."""
    return _sort_events(events, same_time_order, seed)[0]


def _finish(products: pd.DataFrame, events: pd.DataFrame, source: str, pfile: str, efile: str,
            same_time_order: SameTimeOrder, seed: int, bound: _TimeBound) -> Dataset:
    validate_dataset(products, events, products_file=pfile, events_file=efile, now=bound.now,
                     max_future_skew=bound.max_future_skew)
    events, applied = _sort_events(events, same_time_order, seed)
    return Dataset(products=products.reset_index(drop=True), events=events.reset_index(drop=True), source=source,
                   same_time_order=applied)


def _read(path: Path) -> tuple[pd.DataFrame | None, Problem | None]:
    try:
        return pd.read_parquet(path), None
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        return None, Problem(str(path), "", f"expected a readable parquet file; reading failed: {exc}. "
                                            "Re-export it as parquet.")


def load_dataset(data_dir: str | Path, *, same_time_order: SameTimeOrder = "auto", seed: int = 0,
                 now: pd.Timestamp | None = None, max_future_skew: pd.Timedelta = DEFAULT_MAX_FUTURE_SKEW) -> Dataset:
    """Read, normalise and validate ``data_dir``; raise one ``DataValidationError`` listing every problem.

    Events come out sorted by (user, timestamp); same-timestamp events keep the file's row order, or get
    a seeded random order where that row order is id order (see "Event order" in the module docstring).
    Events dated more than ``max_future_skew`` after ``now`` (None: the wall-clock time of the call) are
    refused (see "Future events").
    """
    _check_order(same_time_order)
    bound = _TimeBound(_utc_now(now), max_future_skew)
    folder = Path(data_dir)
    pfile, efile = folder / schema.PRODUCTS_FILE, folder / schema.EVENTS_FILE
    if not folder.is_dir():
        raise DataValidationError([Problem(str(folder), "", "expected a dataset folder; found nothing there. "
                                           f"Pass the folder that holds {schema.PRODUCTS_FILE}.")])
    if not pfile.exists():  # a folder is fine too: a partitioned parquet dataset
        raise DataValidationError([Problem(str(pfile), "", "expected the product catalogue; the file is missing. "
                                           f"Write {schema.PRODUCTS_FILE} (product_id plus optional "
                                           "title, description, category, brand, price).")])
    products, p_problem = _read(pfile)
    events, e_problem = _read(efile) if efile.exists() else (empty_events(), None)
    read_problems = [p for p in (p_problem, e_problem) if p is not None]
    if read_problems or products is None or events is None:
        raise DataValidationError(read_problems)
    return _finish(normalize_products(products), normalize_events(events), str(folder), str(pfile), str(efile),
                   same_time_order, seed, bound)
