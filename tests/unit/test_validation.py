"""recsys.data.validation: one test per kind of problem, on tiny hand-made canonical frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.data import schema, validation
from recsys.data.validation import validate_events, validate_products
from recsys.errors import Problem

CATALOGUE = pd.Index(["P1", "P2", "P3"])


def products(**columns: list[object]) -> pd.DataFrame:
    base: dict[str, list[object]] = {
        schema.PRODUCT_ID: ["P1", "P2", "P3"],
        schema.TITLE: ["Red mug", "Blue mug", "Tea"],
        schema.DESCRIPTION: ["", "", "Green tea"],
        schema.CATEGORY: ["Kitchen > Mugs", "Kitchen > Mugs", "Food"],
        schema.BRAND: ["Acme", "", "Leaf"],
        schema.PRICE: [5.0, np.nan, 3.5],
    }
    base.update(columns)
    return pd.DataFrame(base)


def events(**columns: list[object]) -> pd.DataFrame:
    base: dict[str, object] = {
        schema.USER_ID: ["u1", "u1", "u2"],
        schema.PRODUCT_ID: ["P1", "P2", "P3"],
        schema.EVENT_TYPE: ["view", "purchase", "review"],
        schema.TIMESTAMP: pd.to_datetime(["2020-01-01", "2020-01-02", "2020-01-03"], utc=True).as_unit("us"),
        schema.RATING: [np.nan, np.nan, 4.0],
        schema.TEXT: ["", "", "Nice"],
    }
    base.update(columns)
    return pd.DataFrame(base)


def only(problems: list[Problem], column: str) -> Problem:
    found = [p for p in problems if p.column == column]
    assert len(found) == 1, problems
    return found[0]


def test_valid_frames_have_no_problems() -> None:
    assert validate_products(products()) == []
    assert validate_events(events(), CATALOGUE) == []


def test_extra_columns_are_ignored() -> None:
    assert validate_products(products(colour=["r", "b", "g"])) == []
    assert validate_events(events(session=[1, 2, 3]), CATALOGUE) == []


def test_product_ids_may_be_a_set() -> None:
    assert validate_events(events(), {"P1", "P2", "P3"}) == []
    assert only(validate_events(events(), {"P1", "P2"}), schema.PRODUCT_ID).example == "row 2: product_id='P3'"


# products ----------------------------------------------------------------------------------------------


def test_missing_product_id_column() -> None:
    problem = only(validate_products(products().drop(columns=schema.PRODUCT_ID)), schema.PRODUCT_ID)
    assert "'product_id'" in problem.message and "title" in problem.message
    assert problem.file == schema.PRODUCTS_FILE


def test_empty_catalogue() -> None:
    (problem,) = validate_products(products().iloc[:0])
    assert problem.column == "" and "0 rows" in problem.message


def test_duplicate_product_id() -> None:
    problem = only(validate_products(products(product_id=["P1", "P2", "P1"])), schema.PRODUCT_ID)
    assert "'P1'" in problem.message and "once" in problem.message
    assert problem.example == "row 2: product_id='P1'"


@pytest.mark.parametrize("bad", [None, "", "  "])
def test_null_or_empty_product_id(bad: object) -> None:
    problem = only(validate_products(products(product_id=["P1", bad, "P3"])), schema.PRODUCT_ID)
    assert "non-empty" in problem.message and problem.example.startswith("row 1:")


def test_numeric_product_id_is_a_dtype_problem() -> None:
    problem = only(validate_products(products(product_id=[1, 2, 3])), schema.PRODUCT_ID)
    assert "str" in problem.message and "int64" in problem.message


def test_numeric_value_in_text_column() -> None:
    problem = only(validate_products(products(brand=["Acme", 42, ""])), schema.BRAND)
    assert "42" in problem.message and problem.example == "row 1: brand=42"


def test_price_not_numeric() -> None:
    problem = only(validate_products(products(price=[1.0, "9.99", None])), schema.PRICE)
    assert "'9.99'" in problem.message and "numeric" in problem.message


def test_negative_price() -> None:
    problem = only(validate_products(products(price=[1.0, -2.0, np.nan])), schema.PRICE)
    assert "-2.0" in problem.message


def test_every_problem_is_reported() -> None:
    df = products(product_id=["P1", "P1", None], title=["a", 1, "c"], price=["x", 1.0, 2.0])
    problems = validate_products(df)
    assert [p.column for p in problems] == [schema.PRODUCT_ID, schema.PRODUCT_ID, schema.TITLE, schema.PRICE]


# events ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("column", schema.EVENT_REQUIRED)
def test_missing_required_event_column(column: str) -> None:
    problem = only(validate_events(events().drop(columns=column), CATALOGUE), column)
    assert repr(column) in problem.message


def test_empty_events_are_valid() -> None:
    assert validate_events(events().iloc[:0], CATALOGUE) == []
    assert validate_events(pd.DataFrame(), CATALOGUE) == []


def test_unknown_event_type_lists_allowed() -> None:
    problem = only(validate_events(events(event_type=["view", "like", "like"]), CATALOGUE), schema.EVENT_TYPE)
    assert "'like'" in problem.message and "2 rows" in problem.message
    assert all(t in problem.message for t in schema.EVENT_TYPES)


def test_null_user_id() -> None:
    problem = only(validate_events(events(user_id=["u1", None, "u2"]), CATALOGUE), schema.USER_ID)
    assert "null" in problem.message and problem.example == "row 1: user_id=null"


def test_numeric_user_id_is_a_dtype_problem() -> None:
    problem = only(validate_events(events(user_id=[7, 8, 9]), CATALOGUE), schema.USER_ID)
    assert "7" in problem.message


def test_product_not_in_catalogue() -> None:
    problem = only(validate_events(events(product_id=["P1", "B00X", "P3"]), CATALOGUE), schema.PRODUCT_ID)
    assert "'B00X'" in problem.message and "catalogue" in problem.message
    assert problem.example == "row 1: product_id='B00X'"


def test_none_catalogue_skips_membership_check() -> None:
    assert validate_events(events(product_id=["P1", "B00X", "P3"]), None) == []


def test_null_product_id_on_non_search_event() -> None:
    problem = only(validate_events(events(product_id=["P1", None, "P3"]), CATALOGUE), schema.PRODUCT_ID)
    assert "null" in problem.message and "search" in problem.message


def test_search_without_product_needs_text() -> None:
    ok = events(product_id=["P1", None, "P3"], event_type=["view", "search", "review"], text=["", "red mug", ""])
    assert validate_events(ok, CATALOGUE) == []
    bad = ok.assign(text=["", "  ", ""])
    problem = only(validate_events(bad, CATALOGUE), schema.TEXT)
    assert "search" in problem.message and problem.example == "row 1: text='  '"
    problem = only(validate_events(bad.drop(columns=schema.TEXT), CATALOGUE), schema.TEXT)
    assert problem.example == "row 1: text=''"


def test_unparseable_timestamp() -> None:
    df = events(timestamp=["2020-01-01T00:00:00Z", "yesterday", "2020-01-03"])
    problem = only(validate_events(df, CATALOGUE), schema.TIMESTAMP)
    assert "'yesterday'" in problem.message and "ISO 8601" in problem.message


def test_null_timestamp() -> None:
    df = events(timestamp=pd.to_datetime(["2020-01-01", None, "2020-01-03"], utc=True))
    problem = only(validate_events(df, CATALOGUE), schema.TIMESTAMP)
    assert "null" in problem.message and problem.example == "row 1: timestamp=null"


def test_epoch_numbers_are_rejected() -> None:
    problem = only(validate_events(events(timestamp=[1577836800, 1577923200, 1578009600]), CATALOGUE),
                   schema.TIMESTAMP)
    assert "1577836800" in problem.message and "unit=" in problem.message


def test_rating_out_of_range() -> None:
    problem = only(validate_events(events(rating=[0.0, np.nan, 6.0]), CATALOGUE), schema.RATING)
    assert "0.0" in problem.message and "6.0" in problem.message and "2 rows" in problem.message


def test_null_rating_is_fine() -> None:
    assert validate_events(events(rating=[np.nan, np.nan, np.nan]), CATALOGUE) == []


def test_rating_not_numeric() -> None:
    problem = only(validate_events(events(rating=["five", 5.0, None]), CATALOGUE), schema.RATING)
    assert "'five'" in problem.message


def test_text_not_string() -> None:
    problem = only(validate_events(events(text=[1.5, 2.5, 3.5]), CATALOGUE), schema.TEXT)
    assert "1.5" in problem.message


def test_at_most_three_values_named() -> None:
    df = pd.concat([events()] * 2, ignore_index=True).assign(event_type=["a", "b", "c", "d", "e", "f"])
    problem = only(validate_events(df, CATALOGUE), schema.EVENT_TYPE)
    assert "'a', 'b', 'c' in 6 rows" in problem.message and "'d'" not in problem.message


def test_parse_timestamps_makes_utc_microseconds() -> None:
    naive = validation.parse_timestamps(pd.Series(pd.to_datetime(["2020-01-01 10:00"])))
    text = validation.parse_timestamps(pd.Series(["2020-01-01T12:00:00+02:00"]))
    assert naive is not None and text is not None
    assert str(naive.dtype) == str(text.dtype) == "datetime64[us, UTC]"
    assert naive.iloc[0] == text.iloc[0] == pd.Timestamp("2020-01-01 10:00", tz="UTC")
    assert validation.parse_timestamps(pd.Series([1, 2])) is None


def test_all_exported_names_exist() -> None:
    assert all(hasattr(validation, name) for name in validation.__all__)
