"""The events rules' texts and the one message format every validation problem is written in.

Two executions apply the same rules: `recsys.data.validation` to whole frames (vectorised, any size, any
dtype) and `recsys.data.event_rows` to a small batch of plain values, row by row (the service's event
batches, where building and checking frames costs more than the checks). Both take what a rule expects
and how to fix it from here, its limits from `recsys.data.schema`, and write the problem with `problem`,
so a batch gets the same message whichever execution checked it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from recsys.data import schema
from recsys.errors import Problem

__all__ = ["Rule", "problem", "show", "is_null", "non_empty", "USER_ID_RULE", "EVENT_TYPE_RULE", "PRODUCT_ID_RULE",
           "CATALOGUE_RULE", "QUERY_RULE", "RATING_RULE", "late_rule", "early_rule"]

_SHOWN = 3  # distinct bad values named in one message


@dataclass(frozen=True)
class Rule:
    """What a column's values were expected to be, and what to do about those that are not."""

    expected: str
    fix: str


def non_empty(column: str, where: str) -> Rule:
    """A value is required in `column` on `where` (e.g. "every row")."""
    return Rule(f"a non-empty {column} on {where}", "Fill it or drop those rows.")


USER_ID_RULE: Final = non_empty(schema.USER_ID, "every row")
EVENT_TYPE_RULE: Final = Rule(f"one of {', '.join(schema.EVENT_TYPES)}", "Map them to an allowed type or drop them.")
#: A product_id is required on every event but the product-less types (a search names its query instead).
PRODUCT_ID_RULE: Final = non_empty(
    schema.PRODUCT_ID, f"every event but {' or '.join(sorted(schema.PRODUCTLESS_EVENT_TYPES))}")
CATALOGUE_RULE: Final = Rule("product_ids that are in the catalogue", "Add those products or drop their events.")
QUERY_RULE: Final = Rule("the query in text on search events without a product_id", "Fill text or drop those rows.")
RATING_RULE: Final = Rule(f"a rating from {schema.RATING_MIN:g} to {schema.RATING_MAX:g} or null",
                          "Rescale the ratings or set them to null.")


def _duration(d: pd.Timedelta) -> str:
    """'1 day (86400 s)', '2 hours (7200 s)', '90 s'."""
    seconds = d.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds / size
            return f"{n:g} {unit}{'s' if n != 1 else ''} ({seconds:g} s)"
    return f"{seconds:g} s"


def late_rule(now: pd.Timestamp, max_future_skew: pd.Timedelta, clock: str, fix: str) -> Rule:
    """Event times may be at most `max_future_skew` after `now` (see "Time bounds" in `recsys.data.validation`)."""
    return Rule(f"timestamps at most max_future_skew = {_duration(max_future_skew)} after {clock} "
                f"{now.isoformat()}, i.e. no later than {(now + max_future_skew).isoformat()}", fix)


def early_rule(earliest: pd.Timestamp, fix: str) -> Rule:
    return Rule(f"timestamps on or after {earliest.isoformat()} (earlier ones are almost always a missing date "
                "written as epoch 0)", fix)


def is_null(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # list-like cell
        return False


def show(value: Any) -> str:
    """A value as a message shows it: 'null', or its repr cut to 60 characters."""
    if is_null(value):
        return "null"
    if isinstance(value, np.generic):
        value = value.item()
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def problem(file: str, column: str, rule: Rule, bad: Sequence[int] | np.ndarray, value_at: Callable[[int], Any],
            row: str = "row") -> Problem:
    """One problem for the rows at positions `bad` (0-based, ascending, at least one): names up to 3 distinct
    bad values and the first bad row (`row` is what a row is called where it is shown, e.g. "event" for a
    request's list of events); `value_at(position)` is the value a position holds."""
    shown: dict[str, None] = {}
    for pos in bad:
        shown.setdefault(show(value_at(pos)))
        if len(shown) == _SHOWN:
            break
    n = len(bad)
    found = f"{', '.join(shown)} in {n} row{'s' if n != 1 else ''}"
    first = int(bad[0])
    return Problem(file, column, f"expected {rule.expected}; found {found}. {rule.fix}",
                   f"{row} {first}: {column}={show(value_at(first))}")
