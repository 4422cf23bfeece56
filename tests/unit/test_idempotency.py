"""Exactly-once ingestion for clients that retry: client event ids are unique per tenant (enforced by the
store), a batch sent again with the same Idempotency-Key is stored once and answered as the first time,
and live counters, ad spend and metrics count only what the store stored. Regression tests for "a
client that retries on timeout double-counts profiles, counters and ad spend"."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from recsys.data import schema as S
from recsys.data.dataset import normalize_events
from recsys.service import Settings, create_app
from recsys.store import EVENT_ID, IdempotencyConflictError, IdempotencyKey, SQLiteEventStore

from .test_http_contract import CheckedClient

NOW = pd.Timestamp.now(tz="UTC").floor("s")
TS = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")


def _events(ids: list[str | None], user: str = "u1") -> pd.DataFrame:
    ev = normalize_events(pd.DataFrame({
        S.USER_ID: user, S.PRODUCT_ID: [f"p{i}" for i in range(len(ids))], S.EVENT_TYPE: "view",
        S.TIMESTAMP: [NOW] * len(ids), S.RATING: None, S.TEXT: ""}))
    return ev.assign(**{EVENT_ID: pd.Series(ids, dtype=object)})


@pytest.fixture()
def store(tmp_path: Path):
    s = SQLiteEventStore(tmp_path / "ev.db")
    yield s
    s.close()


# --- the store --------------------------------------------------------------------------------------------

def test_duplicate_event_ids_inside_and_across_batches_are_stored_once(store: SQLiteEventStore):
    first = store.append("t", _events(["a", "b", "a", None, None]))
    assert (first.count, first.duplicates, first.stored) == (4, 1, (True, True, False, True, True))
    again = store.append("t", _events(["b", "c", None]))
    assert (again.count, again.duplicates, again.stored) == (2, 1, (False, True, True))
    assert store.count("t") == 6
    assert sorted(store.user_events("t", "u1")[EVENT_ID].dropna()) == ["a", "b", "c"]
    assert store.append("other", _events(["a"])).count == 1  # unique per tenant, not across tenants


def test_uniqueness_is_enforced_by_the_database_itself(store: SQLiteEventStore):
    store.append("t", _events(["a"]))
    conn = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        conn.execute("INSERT INTO events (tenant, user_id, event_type, ts_us, received_us, event_id) "
                     "VALUES ('t', 'u', 'view', 0, 0, 'a')")
    conn.execute("INSERT INTO events (tenant, user_id, event_type, ts_us, received_us, event_id) "
                 "VALUES ('t', 'u', 'view', 0, 0, NULL), ('t', 'u', 'view', 0, 0, NULL)")  # no id: no constraint
    conn.commit()
    conn.close()


def test_a_retried_key_replays_the_first_result_and_stores_nothing(store: SQLiteEventStore):
    key = IdempotencyKey("k1", "fingerprint-1")
    first = store.append("t", _events([None, None]), idempotency=key)
    assert store.replay("t", IdempotencyKey("k1", "fingerprint-1")) is not None
    again = store.append("t", _events([None, None]), idempotency=key)
    assert again.replayed and not any(again.stored) and store.count("t") == 2
    assert (again.count, again.first_seq, again.last_seq, again.duplicates, again.received_at) == \
           (first.count, first.first_seq, first.last_seq, first.duplicates, first.received_at)
    with pytest.raises(IdempotencyConflictError, match="different batch"):
        store.append("t", _events([None]), idempotency=IdempotencyKey("k1", "fingerprint-2"))
    with pytest.raises(IdempotencyConflictError):
        store.replay("t", IdempotencyKey("k1", "fingerprint-2"))
    assert store.count("t") == 2
    assert store.replay("other", key) is None  # keys are per tenant


def test_a_failed_batch_records_no_key(store: SQLiteEventStore):
    bad = _events([None, None]).astype({S.USER_ID: object})
    bad.loc[1, S.USER_ID] = None
    with pytest.raises(sqlite3.IntegrityError):
        store.append("t", bad, idempotency=IdempotencyKey("k", "f"))
    assert store.replay("t", IdempotencyKey("k", "f")) is None and store.count("t") == 0


_OLD_SCHEMA = """
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, tenant TEXT NOT NULL, user_id TEXT NOT NULL, product_id TEXT,
    event_type TEXT NOT NULL, ts_us INTEGER NOT NULL, rating REAL, text TEXT NOT NULL DEFAULT '',
    received_us INTEGER NOT NULL, campaign_id TEXT
);
CREATE INDEX events_by_user ON events (tenant, user_id, seq);
INSERT INTO events (tenant, user_id, product_id, event_type, ts_us, received_us)
    VALUES ('t', 'u1', 'p0', 'view', 1700000000000000, 1700000000000000);
"""


def test_an_old_database_without_event_ids_is_migrated_on_open(tmp_path: Path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(_OLD_SCHEMA)
    conn.close()
    s = SQLiteEventStore(path)
    try:
        old = s.user_events("t", "u1")
        assert len(old) == 1 and old[EVENT_ID].isna().all()
        assert s.append("t", _events(["x", "x"])).count == 1
        assert s.append("t", _events([None]), idempotency=IdempotencyKey("k", "f")).count == 1
        assert s.count("t") == 3
    finally:
        s.close()
    s = SQLiteEventStore(path)  # opening again is a no-op
    try:
        assert s.append("t", _events(["x"])).duplicates == 1 and s.count("t") == 3
    finally:
        s.close()


# --- the HTTP API -----------------------------------------------------------------------------------------

@pytest.fixture(params=[None, False], ids=["checks-on-loop", "all-in-threads"])
def client(request: pytest.FixtureRequest, tiny_index: Path, tmp_path: Path):
    """Both ways a batch runs: checked and counted on the event loop with only the write in the threadpool
    (SQLite's default), or every step in the threadpool (`inline_reads=False`, as with PostgreSQL)."""
    settings = Settings(index=tiny_index, events_db=tmp_path / "ev.db", inline_reads=request.param)
    with CheckedClient(create_app(settings)) as c:
        assert c.app.state.inline_reads is (request.param is None)
        yield c


def _batch(*ids: str | None, product: str = "r3", users: tuple[str, ...] = ("fan",)) -> dict:
    return {"events": [{"user_id": users[n % len(users)], "product_id": product, "event_type": "purchase",
                        "timestamp": TS, **({"event_id": i} if i is not None else {})} for n, i in enumerate(ids)]}


def _ingested(client: TestClient) -> str:
    return "\n".join(line for line in client.get("/metrics").text.splitlines()
                     if line.startswith("recsys_events_ingested_total{"))


def test_a_retried_batch_with_the_same_key_answers_the_same_and_is_stored_once(client: TestClient):
    live = client.app.state.tenants["default"].served.live
    headers = {"Idempotency-Key": "batch-0001"}
    first = client.post("/v1/events", json=_batch(None, None), headers=headers)
    assert first.status_code == 200 and first.json()["accepted"] == 2
    assert "Idempotent-Replayed" not in first.headers
    applied, metrics = live.events_applied, _ingested(client)
    again = client.post("/v1/events", json=_batch(None, None), headers=headers)
    assert again.status_code == 200 and again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert client.app.state.store.count("default") == 2
    assert live.events_applied == applied and _ingested(client) == metrics  # counted once


def test_the_same_key_with_another_body_is_a_409(client: TestClient):
    headers = {"Idempotency-Key": "batch-0002"}
    assert client.post("/v1/events", json=_batch(None), headers=headers).status_code == 200
    r = client.post("/v1/events", json=_batch(None, product="c1"), headers=headers)
    assert r.status_code == 409
    body = r.json()
    assert body["error"] == "IdempotencyConflictError" and "batch-0002" in body["detail"]
    assert "new key" in body["detail"]
    assert client.app.state.store.count("default") == 1


def test_the_key_is_bounded(client: TestClient):
    r = client.post("/v1/events", json=_batch(None), headers={"Idempotency-Key": "k" * 257})
    assert r.status_code == 422 and client.app.state.store.count("default") == 0
    assert client.post("/v1/events", json=_batch("e" * 257)).status_code == 422


def test_duplicate_event_ids_in_and_across_batches_are_stored_and_counted_once(client: TestClient):
    live = client.app.state.tenants["default"].served.live
    r = client.post("/v1/events", json=_batch("e1", "e2", "e1", users=("fan1", "fan2", "fan1")))
    assert r.json()["accepted"] == 2 and r.json()["duplicates"] == 1
    applied = live.events_applied
    r = client.post("/v1/events", json=_batch("e2", "e3", users=("fan2", "fan3")))  # a retry without a key
    assert r.json()["accepted"] == 1 and r.json()["duplicates"] == 1
    assert live.events_applied == applied + 1
    assert client.app.state.store.count("default") == 3
    assert client.get("/v1/users/fan1/profile").json()["live_events"] == 1


def test_a_retried_ad_click_spends_the_budget_once(tiny_index: Path, tmp_path: Path):
    camps = tmp_path / "campaigns.parquet"
    pd.DataFrame([dict(campaign_id="mugs", advertiser="cafe", landing_product_ids=["c3"], keywords=["espresso"],
                       bid_type="cpc", bid=1.0, total_budget=10.0, seed_user_ids=[])]).to_parquet(camps)
    settings = Settings(index=tiny_index, events_db=tmp_path / "ev.db", campaigns=camps)
    click = {"events": [{"user_id": "a1", "product_id": "c3", "event_type": "click", "timestamp": TS,
                         "campaign_id": "mugs", "event_id": "click-1"}]}
    with TestClient(create_app(settings)) as c:
        for headers in ({}, {}, {"Idempotency-Key": "k"}, {"Idempotency-Key": "k"}):
            assert c.post("/v1/events", json=click, headers=headers).status_code == 200
        ledger = c.app.state.tenants["default"].served.ads.ledger
        assert ledger.spend("mugs", NOW).total == pytest.approx(1.0)
