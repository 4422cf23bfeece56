"""`PostgresEventStore`: the `EventStore` on a PostgreSQL server, so several service processes (or hosts) can
share one events database.

Same semantics as `SQLiteEventStore`, checked by one contract suite (tests/unit/test_store_contract.py):
- Durability: each append is one transaction, committed before `append` returns; with the server's default
  `synchronous_commit=on` the commit is flushed to its WAL first.
- Order: `seq` is an identity column, so it increases in insertion order. Events skipped as duplicates and
  rolled-back batches use up identity values: `seq` has gaps, never repeats. A tenant's appends are serialised
  by a transaction-scoped advisory lock on the tenant, so its batches commit in the order of their `seq`s (as
  SQLite's single writer does) and a reader tailing `events_after` a watermark never misses a lower `seq`
  committed later. Different tenants still append concurrently.
- Exactly-once: the same partial UNIQUE index on (tenant, event_id) and `ON CONFLICT DO NOTHING`, one
  statement per row so a repeat later in the same batch is skipped like one in an earlier batch. A row the
  server refuses for another reason (a NOT NULL violation) rolls back the whole batch.
- Idempotency keys: the key's row is inserted first, in the batch's transaction. A concurrent call with the
  same key blocks on the key's primary key until this transaction ends, then finds the committed key and
  replays its result (or, when this one rolled back, stores its batch itself), so a key never stores twice.
- Times are integer microseconds (BIGINT) as in SQLite, read back through the same `recsys.store.rows`.

Connections come from a `psycopg_pool.ConnectionPool` (autocommit; writes open an explicit transaction), so
threads of the service share a bounded number of server connections; each is checked before use. The
tables (`recsys_events`, `recsys_idempotency`) are created on open under a transaction-scoped advisory lock,
so processes starting at once do not race on `CREATE ... IF NOT EXISTS`. All SQL is parameterised. A server
that cannot be reached raises `ArtifactError` (HTTP 503, exit 4) naming the server without its password,
never a driver traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from recsys.errors import ArtifactError
from recsys.store.base import AppendResult, IdempotencyKey
from recsys.store.dsn import describe, first_line as _first_line, is_postgres_url
from recsys.store.rows import ad_frame, conflict, frame, replayed, result_json, rows, tail_frame, us

__all__ = ["PostgresEventStore", "is_postgres_url"]

#: Advisory-lock class (first of the two int4 keys) held while the schema is created: "rec" in ASCII.
_SCHEMA_LOCK = (0x726563, 1)
#: Held by each append for its tenant (second key: hashtext(tenant)), so a tenant's seqs commit in order.
_APPEND_LOCK = "SELECT pg_advisory_xact_lock(%s, hashtext(%s))"
_APPEND_LOCK_CLASS = 0x726564

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS recsys_events (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tenant TEXT NOT NULL,
        user_id TEXT NOT NULL,
        product_id TEXT,
        event_type TEXT NOT NULL,
        ts_us BIGINT NOT NULL,
        rating DOUBLE PRECISION,
        text TEXT NOT NULL DEFAULT '',
        received_us BIGINT NOT NULL,
        campaign_id TEXT,
        event_id TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS recsys_events_by_user ON recsys_events (tenant, user_id, seq)",
    "CREATE INDEX IF NOT EXISTS recsys_events_by_received ON recsys_events (tenant, received_us)",
    "CREATE INDEX IF NOT EXISTS recsys_events_by_campaign ON recsys_events (tenant, campaign_id) "
    "WHERE campaign_id IS NOT NULL",
    "CREATE UNIQUE INDEX IF NOT EXISTS recsys_events_by_event_id ON recsys_events (tenant, event_id) "
    "WHERE event_id IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS recsys_idempotency (
        tenant TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        result TEXT NOT NULL,
        created_us BIGINT NOT NULL,
        PRIMARY KEY (tenant, key)
    )""",
)
# The conflict target is the partial unique index, so only an event_id repeat is skipped.
_INSERT = ("INSERT INTO recsys_events (tenant, user_id, product_id, event_type, ts_us, rating, text, received_us, "
           "campaign_id, event_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
           "ON CONFLICT (tenant, event_id) WHERE event_id IS NOT NULL DO NOTHING RETURNING seq")
_CLAIM_KEY = ("INSERT INTO recsys_idempotency (tenant, key, fingerprint, result, created_us) "
              "VALUES (%s, %s, %s, '', %s) ON CONFLICT (tenant, key) DO NOTHING RETURNING 1")
_SELECT = ("SELECT user_id, product_id, event_type, ts_us, rating, text, seq, received_us, event_id "
           "FROM recsys_events")
_TAIL = ("SELECT user_id, product_id, event_type, ts_us, rating, text, seq, received_us, event_id, campaign_id "
         "FROM recsys_events WHERE tenant = %s AND seq > %s ORDER BY seq LIMIT %s")
_LAST_SEQ = "SELECT COALESCE(MAX(seq), 0) FROM recsys_events WHERE tenant = %s"
#: Larger than any seq (a BIGINT identity).
_MAX_SEQ = 2**63 - 1

class PostgresEventStore:
    """`EventStore` on PostgreSQL. `dsn`: a `postgresql://` URL or a libpq key=value string; `min_size` and
    `max_size` bound the pool's connections; `timeout` (seconds) bounds connecting and waiting for a pooled
    connection."""

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 10.0) -> None:
        self.where = describe(dsn)
        self._timeout = timeout
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=max(1, round(timeout))) as conn:
                self._create_schema(conn)
        except psycopg.Error as exc:
            raise self._cannot_open(exc) from None
        # `check` replaces a connection the server closed (a restart, a failover) before it is handed out,
        # at the cost of one round trip per call, so a restarted server costs no failed request.
        self._pool = ConnectionPool(dsn, min_size=min_size, max_size=max_size, timeout=timeout,
                                    kwargs={"autocommit": True, "connect_timeout": max(1, round(timeout))},
                                    check=ConnectionPool.check_connection, name="recsys-events", open=False)
        try:
            self._pool.open(wait=True, timeout=timeout)
        except PoolTimeout as exc:
            self._pool.close()
            raise self._cannot_open(exc) from None

    def _cannot_open(self, exc: BaseException) -> ArtifactError:
        return ArtifactError(f"cannot open events database {self.where}: {_first_line(exc)}; check that the server "
                             "is running and reachable and that the user, password and database are right (the "
                             "user needs CREATE on the database once, to create the tables), or pass another "
                             "--events-db")

    @staticmethod
    def _create_schema(conn: psycopg.Connection[Any]) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", _SCHEMA_LOCK)
            for statement in _SCHEMA:
                conn.execute(statement)

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection; the server going away mid-call is an `ArtifactError` (HTTP 503), not a traceback."""
        try:
            with self._pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise ArtifactError(
                f"events database {self.where} is unavailable: {_first_line(exc)}; retry later (a retried batch "
                "with the same Idempotency-Key or event ids is stored once)") from exc

    def append(self, tenant: str, events: pd.DataFrame, *, idempotency: IdempotencyKey | None = None
               ) -> AppendResult:
        now = pd.Timestamp.now(tz="UTC")
        received = us(now)
        batch = rows(tenant, events, received)
        if not batch and idempotency is None:
            return AppendResult(0, None, None, now)
        with self._connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(_APPEND_LOCK, (_APPEND_LOCK_CLASS, tenant))
            if idempotency is not None:
                cur.execute(_CLAIM_KEY, (tenant, idempotency.key, idempotency.fingerprint, received))
                # Nothing claimed: a committed call stored this key (one in flight was waited for), so
                # this call replays its answer or, for another batch, raises the conflict.
                if cur.fetchone() is None and (seen := self._recorded(cur, tenant, idempotency)) is not None:
                    return replayed(seen, len(batch))
            # Read under the tenant's lock, in a statement of its own: its snapshot includes every earlier
            # append of the tenant (they committed before the lock was granted).
            cur.execute(_LAST_SEQ, (tenant,))
            previous = int(cur.fetchone()[0])  # type: ignore[index]
            seqs: list[int] = []
            stored: list[bool] = []
            if batch:
                cur.executemany(_INSERT, batch, returning=True)
                while True:
                    row = cur.fetchone()
                    stored.append(row is not None)
                    if row is not None:
                        seqs.append(int(row[0]))
                    if not cur.nextset():
                        break
            result = AppendResult(len(seqs), min(seqs, default=None), max(seqs, default=None), now,
                                  len(batch) - len(seqs), tuple(stored), seqs=tuple(seqs), previous_seq=previous)
            if idempotency is not None:
                cur.execute("UPDATE recsys_idempotency SET result = %s WHERE tenant = %s AND key = %s",
                            (result_json(result), tenant, idempotency.key))
        return result

    @staticmethod
    def _recorded(cur: psycopg.Cursor[Any], tenant: str, idempotency: IdempotencyKey) -> str | None:
        """The result stored for this key (None: a new key); raises when it was stored for another batch."""
        cur.execute("SELECT fingerprint, result, created_us FROM recsys_idempotency WHERE tenant = %s AND key = %s",
                    (tenant, idempotency.key))
        row = cur.fetchone()
        if row is None:
            return None
        if row[0] != idempotency.fingerprint:
            raise conflict(idempotency, row[2])
        return str(row[1])

    def replay(self, tenant: str, idempotency: IdempotencyKey) -> AppendResult | None:
        with self._connection() as conn, conn.cursor() as cur:
            seen = self._recorded(cur, tenant, idempotency)
        return None if seen is None else replayed(seen, 0)

    def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._connection() as conn:
            return conn.execute(sql, params).fetchall()

    def user_events(self, tenant: str, user_id: str, *, limit: int = 1000) -> pd.DataFrame:
        return frame(self._fetch(
            f"SELECT * FROM ({_SELECT} WHERE tenant = %s AND user_id = %s ORDER BY seq DESC LIMIT %s) AS recent "
            "ORDER BY seq", (tenant, user_id, int(limit))))

    def has_user(self, tenant: str, user_id: str) -> bool:
        return bool(self._fetch("SELECT 1 FROM recsys_events WHERE tenant = %s AND user_id = %s LIMIT 1",
                                (tenant, user_id)))

    def user_last_seq(self, tenant: str, user_id: str) -> int:
        return int(self._fetch("SELECT COALESCE(MAX(seq), 0) FROM recsys_events WHERE tenant = %s AND user_id = %s",
                               (tenant, user_id))[0][0])

    def received_since(self, tenant: str, since: pd.Timestamp) -> pd.DataFrame:
        return frame(self._fetch(f"{_SELECT} WHERE tenant = %s AND received_us > %s ORDER BY seq",
                                 (tenant, us(since))))

    def events_after(self, tenant: str, after_seq: int, limit: int) -> pd.DataFrame:
        return tail_frame(self._fetch(_TAIL, (tenant, int(after_seq), int(limit))))

    def last_seq(self, tenant: str) -> int:
        return int(self._fetch(_LAST_SEQ, (tenant,))[0][0])

    def ad_events(self, tenant: str, *, through_seq: int | None = None) -> pd.DataFrame:
        """Every stored impression/click that names a campaign: campaign_id, user_id, event_type, timestamp."""
        return ad_frame(self._fetch(
            "SELECT campaign_id, user_id, event_type, ts_us FROM recsys_events "
            "WHERE tenant = %s AND campaign_id IS NOT NULL AND seq <= %s ORDER BY seq",
            (tenant, _MAX_SEQ if through_seq is None else int(through_seq))))

    def count(self, tenant: str) -> int:
        return int(self._fetch("SELECT COUNT(*) FROM recsys_events WHERE tenant = %s", (tenant,))[0][0])

    def close(self) -> None:
        self._pool.close()
