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
"""

from __future__ import annotations

import hashlib
import numbers
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data import schema
from recsys.errors import DataValidationError, Problem
from recsys.data.validation import (
    blank_mask,
    non_number_mask,
    non_string_mask,
    parse_timestamps,
    validate_events,
    validate_products,
)

__all__ = [
    "Dataset",
    "load_dataset",
    "empty_events",
    "make_dataset",
    "normalize_products",
    "normalize_events",
    "validate_dataset",
]


@dataclass(frozen=True, eq=False)  # eq=False: DataFrames have no truth value, so no field-wise __eq__
class Dataset:
    """Canonical, validated products and events; ``source`` says where they came from."""

    products: pd.DataFrame
    events: pd.DataFrame
    source: str

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
) -> None:
    """Raise one ``DataValidationError`` listing every problem in both (normalised) frames."""
    problems = validate_products(products, products_file)
    # Without a usable product_id column every event would be "unknown": skip that check instead.
    catalogue: pd.Index | None = None
    if schema.PRODUCT_ID in products.columns and not non_string_mask(products[schema.PRODUCT_ID]).any():
        catalogue = pd.Index(products[schema.PRODUCT_ID].dropna())
    problems += validate_events(events, catalogue, events_file)
    if problems:
        raise DataValidationError(problems)


def make_dataset(products: pd.DataFrame, events: pd.DataFrame | None = None, source: str = "memory") -> Dataset:
    """Normalise, validate and package in-memory frames; events sorted by (user, time, product)."""
    return _finish(normalize_products(products), normalize_events(events if events is not None else empty_events()),
                   source, schema.PRODUCTS_FILE, schema.EVENTS_FILE)


def _finish(products: pd.DataFrame, events: pd.DataFrame, source: str, pfile: str, efile: str) -> Dataset:
    validate_dataset(products, events, products_file=pfile, events_file=efile)
    events = events.sort_values([schema.USER_ID, schema.TIMESTAMP, schema.PRODUCT_ID], kind="stable")
    return Dataset(products=products.reset_index(drop=True), events=events.reset_index(drop=True), source=source)


def _read(path: Path) -> tuple[pd.DataFrame | None, Problem | None]:
    try:
        return pd.read_parquet(path), None
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        return None, Problem(str(path), "", f"expected a readable parquet file; reading failed: {exc}. "
                                            "Re-export it as parquet.")


def load_dataset(data_dir: str | Path) -> Dataset:
    """Read, normalise and validate ``data_dir``; raise one ``DataValidationError`` listing every problem."""
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
    return _finish(normalize_products(products), normalize_events(events), str(folder), str(pfile), str(efile))
