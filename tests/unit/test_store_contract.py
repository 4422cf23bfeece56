"""The `EventStore` contract, run against every backend: SQLite (a fresh file per test) and PostgreSQL (a
fresh schema per test on the server named by RECSYS_TEST_POSTGRES_DSN; skipped without one, see `pg.py`).

Backend-specific behaviour stays in test_service_store.py / test_idempotency.py (SQLite) and
test_store_postgres.py (PostgreSQL). `seq` values are compared, never spelled out: PostgreSQL's identity
column skips the values of skipped duplicates, SQLite's does not.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from recsys.data import schema as S
from recsys.data.dataset import normalize_events
from recsys.store import (
    CAMPAIGN_ID,
    EVENT_ID,
    STORED_COLUMNS,
    EventStore,
    IdempotencyConflictError,
    IdempotencyKey,
    PostgresEventStore,
    SQLiteEventStore,
)

from .pg import fresh_schema

T0 = pd.Timestamp("2024-01-01", tz="UTC")
#: What a refused row raises: the driver's own integrity error (the service validates before storing).
INTEGRITY_ERRORS = (sqlite3.IntegrityError, psycopg.IntegrityError)
STORED_DTYPES = {S.USER_ID: "str", S.PRODUCT_ID: "str", S.EVENT_TYPE: "str", S.TIMESTAMP: "datetime64[us, UTC]",
                 S.RATING: "float64", S.TEXT: "str", "seq": "int64", "received_at": "datetime64[us, UTC]",
                 EVENT_ID: "object"}

Opener = Callable[[], EventStore]


def _events(n: int = 3, user: str = "u1", ids: list[str | None] | None = None, start: int = 0) -> pd.DataFrame:
    """n events of `user`: views of p{start}…, the last one a product-less search with text; optional ids."""
    ev = normalize_events(pd.DataFrame({
        S.USER_ID: [user] * n, S.PRODUCT_ID: [f"p{start + i}" for i in range(n - 1)] + [None],
        S.EVENT_TYPE: ["view"] * (n - 1) + ["search"],
        S.TIMESTAMP: pd.date_range(T0 + pd.Timedelta(days=start), periods=n, freq="D"),
        S.RATING: [5.0] + [None] * (n - 1), S.TEXT: [""] * (n - 1) + ["espresso"]}))
    if ids is not None:
        ev[EVENT_ID] = pd.Series(ids, dtype=object)
    return ev


@pytest.fixture(params=["sqlite", "postgresql"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens a new store object on this test's database; every store opened is closed afterwards."""
    opened: list[EventStore] = []

    def track(make: Opener) -> Opener:
        def open_store() -> EventStore:
            opened.append(make())
            return opened[-1]
        return open_store

    def close_all() -> None:
        for s in opened:
            s.close()

    if request.param == "sqlite":
        yield track(lambda: SQLiteEventStore(tmp_path / "ev.db"))
        close_all()
    else:
        with fresh_schema() as dsn:
            yield track(lambda: PostgresEventStore(dsn, max_size=8))
            close_all()  # before the schema is dropped: an open pooled connection would hold its tables


@pytest.fixture()
def store(opener: Opener) -> EventStore:
    return opener()


def test_is_an_event_store_and_round_trips_canonical_events(store: EventStore):
    assert isinstance(store, EventStore)
    ack = store.append("t", _events())
    assert ack.count == 3 and ack.duplicates == 0 and ack.stored == (True, True, True) and not ack.replayed
    back = store.user_events("t", "u1")
    assert list(back.columns) == list(STORED_COLUMNS)
    assert {c: str(t) for c, t in back.dtypes.items()} == STORED_DTYPES
    assert back[S.PRODUCT_ID].tolist()[:2] == ["p0", "p1"] and pd.isna(back[S.PRODUCT_ID].iloc[2])
    assert back[S.TIMESTAMP].tolist() == _events()[S.TIMESTAMP].tolist()
    assert back[S.RATING].iloc[0] == 5.0 and back[S.RATING].iloc[1:].isna().all()
    assert back[S.TEXT].tolist() == ["", "", "espresso"] and back[EVENT_ID].isna().all()
    assert back["seq"].tolist() == list(range(ack.first_seq or 0, (ack.last_seq or 0) + 1))
    assert (back["received_at"] == ack.received_at).all()


def test_an_empty_frame_stores_nothing(store: EventStore):
    ack = store.append("t", _events().iloc[:0])
    assert (ack.count, ack.first_seq, ack.last_seq) == (0, None, None) and store.count("t") == 0
    empty = store.user_events("t", "u1")
    assert len(empty) == 0 and {c: str(t) for c, t in empty.dtypes.items()} == STORED_DTYPES


def test_an_acknowledged_append_is_readable_from_a_new_store_object(opener: Opener):
    first = opener()
    ack = first.append("t", _events(4, ids=["a", None, "b", None]))
    first.close()
    again = opener()  # another connection, as after a restart
    back = again.user_events("t", "u1")
    assert back["seq"].tolist()[0] == ack.first_seq and back["seq"].tolist()[-1] == ack.last_seq
    assert again.count("t") == 4 and again.has_user("t", "u1")
    assert again.append("t", _events(1, ids=["a"])).duplicates == 1  # the ids survived too


def test_seq_increases_in_store_order_and_user_events_keeps_the_most_recent_oldest_first(store: EventStore):
    acks = [store.append("t", _events(2, start=2 * i)) for i in range(3)]
    assert all(a.last_seq is not None and b.first_seq is not None and a.last_seq < b.first_seq
               for a, b in zip(acks, acks[1:], strict=False))
    everything = store.user_events("t", "u1")
    assert everything["seq"].is_monotonic_increasing and everything["seq"].is_unique and len(everything) == 6
    recent = store.user_events("t", "u1", limit=2)
    assert recent["seq"].tolist() == everything["seq"].tolist()[-2:]
    assert recent[S.TIMESTAMP].tolist() == everything[S.TIMESTAMP].tolist()[-2:]


def test_an_append_reports_its_seqs_and_the_tenants_last_seq_before_it(store: EventStore):
    """What lets a process count its own batch without reading it back (`EventFeed.count_stored`)."""
    first = store.append("t", _events(3, ids=["a", None, None]))
    assert first.previous_seq == 0 and first.seqs == tuple(store.user_events("t", "u1")["seq"])
    store.append("other", _events(2))  # another tenant's seqs do not count
    again = store.append("t", _events(3, ids=["a", "b", None]))  # "a" is a duplicate: stored (False, True, True)
    assert again.previous_seq == first.last_seq == store.events_after("t", 0, 10)["seq"].iloc[2]
    assert again.seqs == tuple(store.events_after("t", first.last_seq or 0, 10)["seq"])
    assert len(again.seqs) == again.count == 2 and (again.seqs[0], again.seqs[-1]) == (again.first_seq, again.last_seq)
    keyed = store.append("t", _events(1), idempotency=IdempotencyKey("k", "f"))
    assert keyed.previous_seq == again.last_seq
    replay = store.append("t", _events(1), idempotency=IdempotencyKey("k", "f"))
    assert replay.replayed and replay.previous_seq is None and replay.seqs == ()


def test_tenants_never_see_each_others_events(store: EventStore):
    store.append("a", _events(user="shared-user", ids=["x", None, None]))
    assert store.count("a") == 3 and store.count("b") == 0
    assert len(store.user_events("b", "shared-user")) == 0 and not store.has_user("b", "shared-user")
    assert len(store.received_since("b", pd.Timestamp("2000-01-01", tz="UTC"))) == 0
    assert store.append("b", _events(1, user="shared-user", ids=["x"])).count == 1  # ids are per tenant
    assert store.count("a") == 3 and store.count("b") == 1


def test_duplicate_event_ids_inside_and_across_batches_are_stored_once(store: EventStore):
    first = store.append("t", _events(5, ids=["a", "b", "a", None, None]))
    assert (first.count, first.duplicates, first.stored) == (4, 1, (True, True, False, True, True))
    again = store.append("t", _events(3, ids=["b", "c", None]))
    assert (again.count, again.duplicates, again.stored) == (2, 1, (False, True, True))
    assert store.count("t") == 6
    back = store.user_events("t", "u1")
    assert sorted(back[EVENT_ID].dropna()) == ["a", "b", "c"]
    assert back.loc[back[EVENT_ID] == "a", S.PRODUCT_ID].tolist() == ["p0"]  # the first copy is the one kept
    only_dupes = store.append("t", _events(2, ids=["a", "c"]))
    assert (only_dupes.count, only_dupes.first_seq, only_dupes.last_seq, only_dupes.duplicates) == (0, None, None, 2)


def test_a_retried_idempotency_key_replays_the_first_result_and_stores_nothing(opener: Opener):
    store = opener()
    key = IdempotencyKey("k1", "fingerprint-1")
    assert store.replay("t", key) is None
    first = store.append("t", _events(2, ids=["a", "a"]), idempotency=key)
    again = store.append("t", _events(2, ids=["a", "a"]), idempotency=key)
    assert again.replayed and again.stored == (False, False) and store.count("t") == 1
    assert (again.count, again.first_seq, again.last_seq, again.duplicates, again.received_at) == \
           (first.count, first.first_seq, first.last_seq, first.duplicates, first.received_at)
    later = opener().replay("t", key)  # recorded durably, with the events
    assert later is not None and later.replayed and (later.count, later.duplicates) == (1, 1)
    assert store.replay("other", key) is None  # keys are per tenant


def test_the_same_key_with_another_batch_is_a_conflict_and_stores_nothing(store: EventStore):
    store.append("t", _events(2), idempotency=IdempotencyKey("k1", "fingerprint-1"))
    with pytest.raises(IdempotencyConflictError, match="different batch"):
        store.append("t", _events(1), idempotency=IdempotencyKey("k1", "fingerprint-2"))
    with pytest.raises(IdempotencyConflictError, match="new key"):
        store.replay("t", IdempotencyKey("k1", "fingerprint-2"))
    assert store.count("t") == 2


def test_a_key_with_an_empty_batch_is_recorded(store: EventStore):
    key = IdempotencyKey("empty", "f")
    ack = store.append("t", _events().iloc[:0], idempotency=key)
    assert ack.count == 0 and not ack.replayed
    replay = store.replay("t", key)
    assert replay is not None and replay.count == 0


def test_a_failing_row_stores_nothing_of_its_batch_and_records_no_key(store: EventStore):
    bad = _events(3, ids=["a", "b", "c"]).astype({S.USER_ID: object})
    bad.loc[2, S.USER_ID] = None  # NOT NULL violation on the last row: the whole batch rolls back
    with pytest.raises(INTEGRITY_ERRORS):
        store.append("t", bad, idempotency=IdempotencyKey("k", "f"))
    assert store.count("t") == 0 and store.replay("t", IdempotencyKey("k", "f")) is None
    assert store.append("t", _events(3, ids=["a", "b", "c"])).count == 3  # nothing of it was kept, ids included


def test_received_since_returns_what_was_committed_after_a_time(store: EventStore):
    first = store.append("t", _events(2))
    store.append("t", _events(2, user="u2"))
    later = store.received_since("t", first.received_at)
    assert set(later[S.USER_ID]) == {"u2"} and later["seq"].is_monotonic_increasing
    assert len(store.received_since("t", first.received_at - pd.Timedelta(seconds=1))) == 4
    assert {c: str(t) for c, t in later.dtypes.items()} == STORED_DTYPES


def test_ad_events_are_the_events_naming_a_campaign_in_order(store: EventStore):
    ev = _events(4)
    ev[CAMPAIGN_ID] = pd.Series(["mugs", None, "kettles", "mugs"], dtype=object)
    store.append("t", ev)
    store.append("t", _events(2, user="organic"))
    ads = store.ad_events("t")
    assert list(ads.columns) == [CAMPAIGN_ID, S.USER_ID, S.EVENT_TYPE, S.TIMESTAMP]
    assert ads[CAMPAIGN_ID].tolist() == ["mugs", "kettles", "mugs"]
    assert ads[S.TIMESTAMP].tolist() == [ev[S.TIMESTAMP].iloc[i] for i in (0, 2, 3)]
    assert str(ads[S.TIMESTAMP].dtype) == "datetime64[us, UTC]"
    assert len(store.ad_events("other")) == 0


def test_events_after_tails_a_tenant_past_a_watermark_and_last_seq_is_its_end(store: EventStore):
    assert store.last_seq("t") == 0 and len(store.events_after("t", 0, 10)) == 0
    ev = _events(3)
    ev[CAMPAIGN_ID] = pd.Series(["mugs", None, None], dtype=object)
    first = store.append("t", ev)
    store.append("other", _events(2))
    second = store.append("t", _events(2, user="u2"))
    assert store.last_seq("t") == second.last_seq
    tail = store.events_after("t", 0, 100)
    assert list(tail.columns) == [*STORED_COLUMNS, CAMPAIGN_ID] and len(tail) == 5
    assert tail["seq"].is_monotonic_increasing and tail[CAMPAIGN_ID].tolist()[:2] == ["mugs", None]
    assert {c: str(t) for c, t in tail.drop(columns=[CAMPAIGN_ID]).dtypes.items()} == STORED_DTYPES
    page = store.events_after("t", 0, 2)
    rest = store.events_after("t", int(page["seq"].iloc[-1]), 100)
    assert page["seq"].tolist() + rest["seq"].tolist() == tail["seq"].tolist()  # pages in order, no gaps
    assert set(store.events_after("t", first.last_seq or 0, 100)[S.USER_ID]) == {"u2"}
    assert store.ad_events("t", through_seq=(first.first_seq or 0) - 1).empty
    assert store.ad_events("t", through_seq=first.last_seq)[CAMPAIGN_ID].tolist() == ["mugs"]


def test_count_and_has_user(store: EventStore):
    assert store.count("t") == 0 and not store.has_user("t", "u1")
    store.append("t", _events(2))
    store.append("t", _events(3, user="u2"))
    assert store.count("t") == 5 and store.has_user("t", "u1") and store.has_user("t", "u2")
    assert not store.has_user("t", "u3")


def test_user_last_seq_moves_with_the_users_own_events_only(store: EventStore):
    assert store.user_last_seq("t", "u1") == 0
    first = store.append("t", _events(2))
    assert store.user_last_seq("t", "u1") == first.last_seq
    other = store.append("t", _events(1, user="u2"))
    assert store.user_last_seq("t", "u1") == first.last_seq and store.user_last_seq("t", "u2") == other.last_seq
    assert store.user_last_seq("other-tenant", "u1") == 0
    again = store.append("t", _events(1, start=10))
    assert store.user_last_seq("t", "u1") == again.last_seq > other.last_seq


def test_sql_injection_in_values_is_just_data(store: EventStore):
    nasty = "x'); DROP TABLE events; DROP TABLE recsys_events; --"
    store.append(nasty, _events(1, user=nasty, ids=[nasty]))
    assert store.count(nasty) == 1 and store.has_user(nasty, nasty)
    assert store.user_events(nasty, nasty)[EVENT_ID].tolist() == [nasty]


def test_concurrent_writers_store_every_event_exactly_once(store: EventStore):
    def writer(w: int, acks: list) -> None:
        for i in range(50):
            acks.append(store.append("t", _events(2, user=f"w{w}", ids=[f"w{w}-{i}-a", None], start=2 * i)))

    acks: list[list] = [[] for _ in range(4)]
    threads = [threading.Thread(target=writer, args=(w, acks[w])) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(a.count for per in acks for a in per) == 400 and store.count("t") == 400
    seqs = pd.concat([store.user_events("t", f"w{w}", limit=1000)["seq"] for w in range(4)])
    assert seqs.is_unique and len(seqs) == 400
    acked = {s for per in acks for a in per for s in (a.first_seq, a.last_seq)}
    assert acked <= set(seqs)
    for w in range(4):  # each writer's batches are in its own order
        mine = store.user_events("t", f"w{w}", limit=1000)
        assert mine["seq"].is_monotonic_increasing and mine[EVENT_ID].dropna().is_unique


def test_concurrent_retries_of_one_batch_store_it_once(store: EventStore):
    batch = _events(3, ids=["r1", "r2", None])
    key = IdempotencyKey("retry", "f")
    barrier = threading.Barrier(4)
    acks: list = [None] * 4
    ids_only: list = [None] * 4

    def retry(i: int) -> None:
        barrier.wait()
        acks[i] = store.append("t", batch, idempotency=key)
        ids_only[i] = store.append("ids", batch.iloc[:2])  # no key: only the event ids protect it

    threads = [threading.Thread(target=retry, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(not a.replayed for a in acks) == 1 and store.count("t") == 3
    assert len({(a.count, a.first_seq, a.last_seq) for a in acks}) == 1
    assert sum(a.count for a in ids_only) == 2 and store.count("ids") == 2


def test_both_backends_return_identical_frames(tmp_path: Path):
    """One batch through both stores: the same frames, `seq` and `received_at` aside (those are the store's)."""
    ev = _events(4, ids=["a", None, "a", "z"])
    ev[CAMPAIGN_ID] = pd.Series(["mugs", None, None, None], dtype=object)
    with fresh_schema() as dsn:
        sqlite, pg = SQLiteEventStore(tmp_path / "ev.db"), PostgresEventStore(dsn)
        try:
            frames = []
            for s in (sqlite, pg):
                s.append("t", ev)
                frames.append((s.user_events("t", "u1"), s.received_since("t", T0), s.ad_events("t")))
        finally:
            sqlite.close()
            pg.close()
    (a_user, a_since, a_ads), (b_user, b_since, b_ads) = frames
    mine = ["seq", "received_at"]
    pd.testing.assert_frame_equal(a_user.drop(columns=mine), b_user.drop(columns=mine))
    pd.testing.assert_frame_equal(a_since.drop(columns=mine), b_since.drop(columns=mine))
    pd.testing.assert_frame_equal(a_ads, b_ads)
    assert a_user.dtypes.equals(b_user.dtypes)
