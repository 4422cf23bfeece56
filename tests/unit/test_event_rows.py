"""The row-wise execution of the events rules (`EventRows`) against the frame execution (`normalize_events`,
`validate_events`, `event_time_problems`): on random and hostile batches both accept and refuse the same
batches with the same problems, word for word, and normalise to the same frame. Values the row-wise
execution does not take (wrong types, NaT, nanoseconds, missing required fields) must send the batch to
the frame execution."""

from __future__ import annotations

import datetime as dt
import random
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from recsys.data import schema as S
from recsys.data.dataset import normalize_events
from recsys.data.event_rows import EventRows
from recsys.data.validation import EARLIEST_EVENT, event_time_problems, validate_events
from recsys.errors import Problem

NOW = pd.Timestamp("2026-03-01T12:00:00.123456Z")
FILE = "request body"
CATALOGUE = {"p1", "p2", "p3", " p4", "ü"}
BOUNDS: dict[str, Any] = dict(now=NOW, max_future_skew=pd.Timedelta(hours=2), earliest=EARLIEST_EVENT,
                              clock="the server's receive time", fix="Check the client's clock.", row="event")
_MISSING = object()

# Values the row-wise execution takes, and values it must leave to the frame execution.
PLAIN: dict[str, list[Any]] = {
    S.USER_ID: ["u1", "u2", " u1 ", "", "   ", "\t\n", "\x1f", "\u3000", None, "ü" * 80, "u'\"x"],
    S.PRODUCT_ID: ["p1", "p2", "p3", " p4", "ü", "zz", "", " ", None, "p1 "],
    S.EVENT_TYPE: ["view", "click", "cart", "purchase", "rating", "search", "impression", " VIEW ", "Search\t",
                   "bogus", "", "   "],
    S.TIMESTAMP: [NOW.to_pydatetime(), (NOW - pd.Timedelta(days=3)).to_pydatetime(),
                  NOW.tz_localize(None).to_pydatetime(), (NOW + pd.Timedelta(hours=1)).to_pydatetime(),
                  (NOW + pd.Timedelta(hours=3)).to_pydatetime(), dt.datetime(9999, 12, 31, 23, 59),
                  dt.datetime(1970, 1, 1, tzinfo=dt.UTC), dt.datetime(1, 1, 1), dt.datetime(1989, 12, 31, 23, 59),
                  dt.datetime(2026, 3, 1, 15, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
                  dt.datetime(2026, 3, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=-11))),
                  pd.Timestamp("2026-02-28T10:00:00.5Z"), pd.Timestamp("2030-01-01T00:00:00+01:00")],
    S.RATING: [None, 1.0, 5.0, 3.25, 0.999, 5.000001, 6, 3, 0, -2, float("nan"), float("inf"), float("-inf"),
               1e308, -1e-320, 2**53 - 1],
    S.TEXT: ["", "espresso", "   ", None, "\x1f", "ü" * 100],
}
#: The first values of each PLAIN list are valid anywhere (but a search without text).
VALID = {S.USER_ID: 3, S.PRODUCT_ID: 5, S.EVENT_TYPE: 8, S.TIMESTAMP: 4, S.RATING: 4, S.TEXT: 2}
HOSTILE: dict[str, list[Any]] = {
    S.USER_ID: [5, 5.0, 2.5, True, np.nan, np.int64(3), ["u"], b"u1", pd.NA],
    S.PRODUCT_ID: [7, 7.5, np.nan, False, {"p": 1}],
    S.EVENT_TYPE: [None, 3, np.nan, b"view"],
    S.TIMESTAMP: [None, pd.NaT, "2026-03-01T00:00:00Z", "not a time", 1_700_000_000, 1.7e9, dt.date(2026, 3, 1),
                  pd.Timestamp("2026-02-28T10:00:00.000000001Z"), np.datetime64("2026-01-01")],
    S.RATING: ["5", True, np.float64(2.0), 10**30, -(2**60), [5], dt.datetime(2026, 1, 1)],
    S.TEXT: [5, np.nan, b"q", ["q"]],
}


def _record(rng: random.Random, hostile: float, dirty: float) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for col in S.EVENT_COLUMNS:
        pool = (HOSTILE[col] if rng.random() < hostile else
                PLAIN[col] if rng.random() < dirty else PLAIN[col][:VALID[col]])
        value = rng.choice(pool)
        if rng.random() < (0.04 if col in S.EVENT_REQUIRED else 0.3) * (hostile > 0 or col not in S.EVENT_REQUIRED):
            value = _MISSING
        if value is not _MISSING:
            record[col] = value
    if rng.random() < 0.2:
        record["campaign_id"] = rng.choice(["mugs", None])  # extra fields are ignored by both
    return record


def _batch(rng: random.Random, hostile: float) -> list[dict[str, Any]]:
    dirty = rng.choice([0.0, 0.02, 0.1, 0.5])
    records = [_record(rng, hostile, dirty) for _ in range(rng.randint(1, 12))]
    for _ in range(rng.randint(0, 3)):  # exact duplicates
        records.insert(rng.randrange(len(records) + 1), dict(rng.choice(records)))
    return records


def _by_frames(records: list[dict[str, Any]], catalogue) -> tuple[pd.DataFrame, list[Problem]]:
    events = normalize_events(pd.DataFrame(records))
    problems = validate_events(events, catalogue, FILE)
    if S.TIMESTAMP in events.columns:
        problems += event_time_problems(events[S.TIMESTAMP], FILE, **BOUNDS)
    return events, problems


def _by_rows(rows: EventRows, catalogue) -> tuple[pd.DataFrame, list[Problem]]:
    return rows.frame(), rows.problems(catalogue, FILE) + rows.time_problems(FILE, **BOUNDS)


def _compare(records: list[dict[str, Any]], catalogue) -> list[Problem] | None:
    """Both executions agree on `records`: their problems, None when the row-wise one declined them."""
    rows = EventRows.of(records)
    if rows is None:
        return None
    want_frame, want = _by_frames(records, catalogue)
    got_frame, got = _by_rows(rows, catalogue)
    assert got == want, records
    pd.testing.assert_frame_equal(got_frame, want_frame, check_exact=True)
    return got


@pytest.mark.parametrize("catalogue", [None, CATALOGUE, pd.Index(sorted(CATALOGUE))], ids=["none", "set", "index"])
def test_both_executions_agree_on_random_batches_of_plain_values(catalogue):
    rng = random.Random(11)
    refused = 0
    for _ in range(150):
        problems = _compare(_batch(rng, hostile=0.0), catalogue)
        assert problems is not None
        refused += bool(problems)
    assert 30 < refused < 120  # both outcomes are well exercised


def test_both_executions_agree_on_hostile_batches_or_the_row_wise_one_declines():
    rng = random.Random(12)
    taken = declined = 0
    for _ in range(500):
        records = _batch(rng, hostile=0.04)
        if _compare(records, CATALOGUE) is not None:
            taken += 1
        else:
            declined += 1
    assert taken > 60 and declined > 60


@pytest.mark.parametrize("col", list(HOSTILE))
def test_each_value_the_row_wise_execution_does_not_take_declines_the_batch(col: str):
    for value in HOSTILE[col]:
        record = {S.USER_ID: "u1", S.PRODUCT_ID: "p1", S.EVENT_TYPE: "view", S.TIMESTAMP: NOW, col: value}
        assert EventRows.of([record]) is None, (col, value)
    for required in S.EVENT_REQUIRED:
        record = {S.USER_ID: "u1", S.PRODUCT_ID: "p1", S.EVENT_TYPE: "view", S.TIMESTAMP: NOW}
        del record[required]
        assert EventRows.of([record]) is None
    assert EventRows.of([]) is None


def test_a_subset_is_numbered_like_a_filtered_frame():
    records = [{S.USER_ID: "u1", S.PRODUCT_ID: p, S.EVENT_TYPE: t, S.TIMESTAMP: NOW}
               for p, t in [(None, "impression"), ("p1", "bogus"), (None, "view"), ("p2", "view")]]
    keep = [False, True, True, True]
    rows = EventRows.of(records)
    assert rows is not None
    events = normalize_events(pd.DataFrame(records))
    want = validate_events(events[keep], None, FILE)
    assert rows.subset(keep).problems(None, FILE) == want and "row 0" in want[0].example


# --- through the events endpoint ---------------------------------------------------------------------------

def _endpoint_batches() -> list[list[dict[str, Any]]]:
    now = pd.Timestamp.now(tz="UTC").floor("s")

    def ev(**kw: Any) -> dict[str, Any]:
        return {"user_id": "u1", "product_id": "c1", "event_type": "view",
                "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"), **kw}

    late, early = now + pd.Timedelta(days=2), pd.Timestamp("1980-01-01", tz="UTC")
    return [
        [ev(), ev(user_id="u2", event_type="purchase", product_id="b2"), ev(event_id="x"), ev(event_id="x")],
        [ev(event_type="search", product_id=None, text="espresso"), ev(event_type="rating", rating=4.5)],
        [ev(user_id="   "), ev(product_id=""), ev(event_type="search", product_id=None, text=" "), ev()],
        [ev(product_id="nope"), ev(product_id="nope"), ev(product_id="zz")],
        [ev(timestamp=late.isoformat()), ev(timestamp=early.isoformat()), ev(timestamp="2026-03-01T12:00:00+05:00")],
        [ev(timestamp=(now - pd.Timedelta(hours=3)).tz_localize(None).isoformat())],
        [ev(event_type="impression", campaign_id="mugs", product_id=None), ev(event_type="click", campaign_id="mugs")],
        [ev(event_type="impression", campaign_id="nope"), ev(user_id="\t")],
    ]


def _answers(client, batches: list[list[dict[str, Any]]]) -> list[tuple[int, Any]]:
    """Status and body per batch, without what differs between two servers: seqs, and receive times."""
    out = []
    for events in batches:
        r = client.post("/v1/events", json={"events": events})
        body = r.json()
        if r.status_code == 200:
            body = {k: v for k, v in body.items() if not k.endswith("_seq")}
        else:
            body = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", "<time>", r.text)
        out.append((r.status_code, body))
    return out


def test_the_endpoint_answers_and_stores_the_same_through_both_executions(tiny_index, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from recsys.service import Settings, create_app
    from recsys.service.routers import events as endpoint

    camps = tmp_path / "campaigns.parquet"
    pd.DataFrame([dict(campaign_id="mugs", advertiser="cafe", landing_product_ids=["c3"], keywords=["espresso"],
                       bid_type="cpc", bid=1.0, total_budget=10.0, seed_user_ids=[])]).to_parquet(camps)
    taken: list[bool] = []
    of = EventRows.of

    def counted(records):
        taken.append((rows := of(records)) is not None)
        return rows

    monkeypatch.setattr(endpoint.EventRows, "of", counted)
    batches, results = _endpoint_batches(), []
    for limit in (endpoint.ROWWISE_MAX, 0):  # row by row, then frames only
        monkeypatch.setattr(endpoint, "ROWWISE_MAX", limit)
        settings = Settings(index=tiny_index, events_db=tmp_path / f"ev{limit}.db", campaigns=camps,
                            log_answers=False)
        with TestClient(create_app(settings)) as client:
            answers = _answers(client, batches)
            stored = client.app.state.store.received_since("default", pd.Timestamp(0, tz="UTC"))
            results.append((answers, stored.drop(columns=["seq", "received_at"]),
                            client.app.state.tenants["default"].served.live.live.tolist()))
    (rows, rows_stored, rows_live), (frames, frames_stored, frames_live) = results
    assert [a[0] for a in rows] == [200, 200, 422, 422, 422, 200, 200, 422]
    assert rows == frames and taken == [True] * len(batches)  # the first server checked every batch row-wise
    pd.testing.assert_frame_equal(rows_stored, frames_stored)
    assert rows_live == frames_live
