"""`recsys.store.rows.rows`: canonical frames as the rows both stores insert, missing values as NULL."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data import schema as S
from recsys.store.base import CAMPAIGN_ID, EVENT_ID
from recsys.store.rows import rows, us


def _frame(ts: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({
        S.USER_ID: pd.Series(["u1", "u2", None], dtype="str"),
        S.PRODUCT_ID: pd.Series(["p1", "", None], dtype="str"),
        S.EVENT_TYPE: pd.Series(["view", "search", "purchase"], dtype="str"),
        S.TIMESTAMP: ts,
        S.RATING: pd.Series([4.5, np.nan, None], dtype="float64"),
        S.TEXT: pd.Series(["nice", None, ""], dtype="str"),
        CAMPAIGN_ID: pd.Series(["c1", None, np.nan], dtype=object),
        EVENT_ID: pd.Series([None, "e2", pd.NA], dtype=object),
    })


TIMES = ["2024-03-01T10:00:00.123456789Z", "1999-12-31T23:59:59.999999Z", "2030-01-01T00:00:00Z"]


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_rows_turn_missing_values_into_null_and_times_into_floored_microseconds(unit: str) -> None:
    stamps = pd.Series(pd.to_datetime(TIMES, utc=True, format="ISO8601"))
    stamps = stamps.dt.floor({"s": "s", "ms": "ms", "us": "us", "ns": "ns"}[unit]).dt.as_unit(unit)
    out = rows("t", _frame(stamps), 7)
    micros = [us(t) for t in stamps]
    assert out == [
        ("t", "u1", "p1", "view", micros[0], 4.5, "nice", 7, "c1", None),
        ("t", "u2", None, "search", micros[1], None, "", 7, None, "e2"),
        ("t", None, None, "purchase", micros[2], None, "", 7, None, None),
    ]
    if unit == "ns":  # floored, not rounded: .123456789 s is 123456 µs
        assert out[0][4] % 1_000_000 == 123456


def test_rows_of_a_frame_without_the_optional_columns_and_with_object_timestamps() -> None:
    stamps = pd.Series(pd.to_datetime(TIMES, utc=True, format="ISO8601"), dtype=object)
    frame = _frame(stamps).drop(columns=[CAMPAIGN_ID, EVENT_ID])
    out = rows("t", frame, 1)
    assert [r[8:] for r in out] == [(None, None)] * 3
    assert [r[4] for r in out] == [us(pd.Timestamp(t)) for t in TIMES]
