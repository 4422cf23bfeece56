"""SQLiteEventStore: the EventStore contract, durability settings, tenant scoping, all-or-nothing."""

from __future__ import annotations

import fcntl
import sqlite3
import threading
from pathlib import Path

import pandas as pd
import pytest

from recsys.data import schema as S
from recsys.data.dataset import normalize_events
from recsys.errors import ArtifactError
from recsys.store import EventStore, SQLiteEventStore


def _events(n: int = 3, user: str = "u1") -> pd.DataFrame:
    return normalize_events(pd.DataFrame({
        S.USER_ID: [user] * n, S.PRODUCT_ID: [f"p{i}" for i in range(n - 1)] + [None],
        S.EVENT_TYPE: ["view"] * (n - 1) + ["search"],
        S.TIMESTAMP: pd.date_range("2024-01-01", periods=n, freq="D", tz="UTC"),
        S.RATING: [5.0] + [None] * (n - 1), S.TEXT: [""] * (n - 1) + ["espresso"]}))


@pytest.fixture()
def store(tmp_path: Path):
    s = SQLiteEventStore(tmp_path / "ev.db")
    yield s
    s.close()


def test_is_an_event_store_and_round_trips_canonical_events(store: SQLiteEventStore):
    assert isinstance(store, EventStore)
    ack = store.append("t1", _events())
    assert (ack.count, ack.first_seq, ack.last_seq) == (3, 1, 3)
    back = store.user_events("t1", "u1")
    assert list(back.columns[:6]) == list(S.EVENT_COLUMNS)
    assert back[S.PRODUCT_ID].tolist()[:2] == ["p0", "p1"] and pd.isna(back[S.PRODUCT_ID].iloc[2])
    assert back[S.TIMESTAMP].tolist() == _events()[S.TIMESTAMP].tolist()
    assert back[S.RATING].iloc[0] == 5.0 and back[S.TEXT].iloc[2] == "espresso"
    assert str(back[S.TIMESTAMP].dtype) == "datetime64[us, UTC]"


def test_tenants_never_see_each_others_events(store: SQLiteEventStore):
    store.append("a", _events(user="shared-user"))
    assert store.count("a") == 3 and store.count("b") == 0
    assert len(store.user_events("b", "shared-user")) == 0 and not store.has_user("b", "shared-user")
    assert len(store.received_since("b", pd.Timestamp("2000-01-01", tz="UTC"))) == 0


def test_user_events_keeps_the_most_recent_limit_oldest_first(store: SQLiteEventStore):
    store.append("t", _events(5))
    got = store.user_events("t", "u1", limit=2)
    assert got["seq"].tolist() == [4, 5]


def test_received_since_filters_by_commit_time(store: SQLiteEventStore):
    first = store.append("t", _events(2))
    store.append("t", _events(2, user="u2"))
    later = store.received_since("t", first.received_at)
    assert set(later[S.USER_ID]) == {"u2"}


def test_durability_pragmas_are_wal_and_full(tmp_path: Path):
    s = SQLiteEventStore(tmp_path / "ev.db")
    s.append("t", _events(1))
    conn = sqlite3.connect(tmp_path / "ev.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s._reader().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    s.close()
    conn.close()


def test_a_failing_batch_stores_nothing(store: SQLiteEventStore):
    bad = _events(3).astype({S.USER_ID: object})
    bad.loc[2, S.USER_ID] = None  # NOT NULL violation on the last row: the whole batch rolls back
    with pytest.raises(sqlite3.IntegrityError):
        store.append("t", bad)
    assert store.count("t") == 0


def test_sql_injection_in_values_is_just_data(store: SQLiteEventStore):
    store.append("t", _events(1, user="x'); DROP TABLE events; --"))
    assert store.count("t") == 1 and store.has_user("t", "x'); DROP TABLE events; --")


def test_missing_folder_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ArtifactError, match="does not exist"):
        SQLiteEventStore(tmp_path / "nope" / "ev.db")


def test_writers_of_other_processes_queue_on_the_writer_lock_file(store: SQLiteEventStore, tmp_path: Path):
    """Another process holding `<db>-writer.lock` (here: this test, through its own open file) makes `append`
    wait for it, instead of meeting it at SQLite's lock, whose busy handler polls with sleeps."""
    done = threading.Event()
    with open(tmp_path / "ev.db-writer.lock", "r+b") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        writer = threading.Thread(target=lambda: (store.append("t", _events()), done.set()))
        writer.start()
        assert not done.wait(0.5), "append did not wait for the other writer's lock"
        assert store.count("t") == 0
        fcntl.flock(other.fileno(), fcntl.LOCK_UN)
        assert done.wait(30)
    writer.join()
    assert store.count("t") == 3
    with open(tmp_path / "ev.db-writer.lock", "r+b") as other:  # and it let go of the lock after committing
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_try_append_stores_when_the_writer_is_free_and_gives_none_without_waiting_when_it_is_not(
        store: SQLiteEventStore, tmp_path: Path):
    """`try_append` is `append` when no other writer holds the lock; while another process (here: this test,
    through its own open file) or another thread of this one holds it, it returns None at once, stores
    nothing and leaves the lock as it found it."""
    from recsys.store import IdempotencyKey, append_without_waiting

    first = store.try_append("t", _events())
    assert first is not None and first.count == 3 and store.count("t") == 3
    with open(tmp_path / "ev.db-writer.lock", "r+b") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        assert store.try_append("t", _events(user="u2")) is None
        assert append_without_waiting(store, "t", _events(user="u2")) is None
        assert store.count("t") == 3
        fcntl.flock(other.fileno(), fcntl.LOCK_UN)
    busy, release = threading.Event(), threading.Event()

    def hold_writer() -> None:
        with store._writing():
            busy.set()
            release.wait(30)

    holder = threading.Thread(target=hold_writer)
    holder.start()
    assert busy.wait(30)
    try:
        assert store.try_append("t", _events(user="u3")) is None and store.count("t") == 3
    finally:
        release.set()
        holder.join()
    key = IdempotencyKey("k1", "fp")
    again = append_without_waiting(store, "t", _events(user="u4"), idempotency=key)
    assert again is not None and again.count == 3 and not again.replayed
    replay = store.try_append("t", _events(user="u4"), idempotency=key)
    assert replay is not None and replay.replayed and store.count("t") == 6
    with open(tmp_path / "ev.db-writer.lock", "r+b") as other:  # let go of after each attempt
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_a_store_without_try_append_is_never_written_without_waiting(tmp_path: Path) -> None:
    from recsys.store import append_without_waiting

    class Plain:
        def append(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("must not be called")

    assert append_without_waiting(Plain(), "t", _events()) is None  # type: ignore[arg-type]
