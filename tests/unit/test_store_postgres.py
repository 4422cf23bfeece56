"""PostgresEventStore beyond the shared contract (test_store_contract.py): choosing the backend from the
`--events-db` value, typed errors for unreachable servers and bad DSNs (no password in them), tables created
once when processes open at once, the database itself refusing a second copy of an event id, and a server
that dropped the pool's connections. Tests that need a server skip without RECSYS_TEST_POSTGRES_DSN."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg_pool import PoolTimeout

from recsys.errors import ArtifactError, ConfigError
from recsys.store import PostgresEventStore, SQLiteEventStore, open_event_store

from .pg import fresh_schema
from .test_store_contract import _events

# Nothing listens on port 1, so connecting fails at once without a server.
UNREACHABLE = "postgresql://alice:s3cret-pw@127.0.0.1:1/events"


def test_open_event_store_picks_the_backend_from_the_value(tmp_path: Path):
    s = open_event_store(tmp_path / "ev.db")
    assert isinstance(s, SQLiteEventStore)
    s.close()
    s = open_event_store(str(tmp_path / "as-string.db"))
    assert isinstance(s, SQLiteEventStore)
    s.close()
    for url in (UNREACHABLE, UNREACHABLE.replace("postgresql://", "postgres://")):
        with pytest.raises(ArtifactError, match=r"postgresql://alice@127.0.0.1:1/events"):
            open_event_store(url)  # tried PostgreSQL, not a file named "postgresql:"


def test_an_unreachable_server_is_an_artifact_error_with_a_hint_and_no_password():
    with pytest.raises(ArtifactError) as caught:
        PostgresEventStore(UNREACHABLE, timeout=2)
    message = str(caught.value)
    assert message.startswith("cannot open events database postgresql://alice@127.0.0.1:1/events: ")
    assert "refused" in message and "--events-db" in message and "s3cret-pw" not in message
    assert caught.value.__cause__ is None  # one line, not the driver's traceback chain


def test_a_malformed_dsn_is_a_config_error_without_the_password():
    with pytest.raises(ConfigError, match="not a valid PostgreSQL connection string") as caught:
        PostgresEventStore("postgresql://alice:s3cret-pw@[::1/events")
    assert "s3cret-pw" not in str(caught.value)


def test_processes_opening_a_new_database_at_once_create_the_tables_once():
    with fresh_schema() as dsn:
        stores: list[PostgresEventStore] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(6)

        def open_one() -> None:
            barrier.wait()
            try:
                stores.append(PostgresEventStore(dsn, min_size=1, max_size=1))
            except BaseException as exc:  # reported below: a thread's exception would otherwise vanish
                errors.append(exc)

        threads = [threading.Thread(target=open_one) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        try:
            assert errors == [] and len(stores) == 6
            assert stores[0].append("t", _events(2)).count == 2 and stores[5].count("t") == 2
        finally:
            for s in stores:
                s.close()


def test_uniqueness_of_event_ids_is_enforced_by_the_database_itself():
    with fresh_schema() as dsn:
        store = PostgresEventStore(dsn)
        try:
            store.append("t", _events(1, ids=["a"]))
        finally:
            store.close()
        insert = ("INSERT INTO recsys_events (tenant, user_id, event_type, ts_us, received_us, event_id) "
                  "VALUES ('t', 'u', 'view', 0, 0, %s)")
        with psycopg.connect(dsn, autocommit=True) as conn:
            with pytest.raises(psycopg.errors.UniqueViolation):
                conn.execute(insert, ("a",))
            conn.execute(insert, (None,))
            conn.execute(insert, (None,))  # no id: no constraint


def test_connections_the_server_dropped_are_replaced_before_use():
    with fresh_schema() as dsn:
        app = f"recsys-test-{uuid.uuid4().hex[:8]}"
        store = PostgresEventStore(make_conninfo(dsn, application_name=app), min_size=2, max_size=2)
        try:
            store.append("t", _events(2))
            with psycopg.connect(dsn, autocommit=True) as admin:
                killed = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                       "WHERE application_name = %s", (app,)).fetchone()
            assert killed is not None and killed[0] >= 1
            assert store.count("t") == 2 and store.append("t", _events(1)).count == 1
        finally:
            store.close()


def test_a_server_gone_mid_call_is_an_artifact_error(monkeypatch: pytest.MonkeyPatch):
    with fresh_schema() as dsn:
        store = PostgresEventStore(dsn)
        try:
            def unavailable(*args: object, **kwargs: object) -> None:
                raise PoolTimeout("couldn't get a connection after 10.00 sec")

            monkeypatch.setattr(store._pool, "connection", unavailable)
            with pytest.raises(ArtifactError, match="is unavailable: couldn't get a connection.*Idempotency-Key"):
                store.append("t", _events(1))
            with pytest.raises(ArtifactError, match="is unavailable"):
                store.count("t")
        finally:
            monkeypatch.undo()
            store.close()
