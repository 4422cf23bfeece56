"""`SQLiteEventStore`: the embedded default backend of `EventStore`.

Durability: WAL journal with `synchronous=FULL`, so a committed transaction's WAL frames are fsync'ed
before `append` returns, and an acknowledged event survives SIGKILL or power loss. Readers get their
own connection per thread (WAL lets them read while one writer commits); the writer connection is
serialised by a lock. All SQL is parameterised.

Exactly-once (see `recsys.store.base`): a partial UNIQUE index on (tenant, event_id) makes the database
itself refuse a second copy of an identified event, and each row is inserted with `ON CONFLICT DO
NOTHING`, which skips only such uniqueness conflicts (a NOT NULL violation still fails the whole batch).
The `idempotency` table holds each (tenant, key)'s batch fingerprint and result, written in the same
transaction as the events, so a crash can never leave events stored without their key or the reverse.
Databases created before these existed get the column, index and table on open.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data import schema as S
from recsys.errors import ArtifactError
from recsys.store.base import (
    CAMPAIGN_ID,
    EVENT_ID,
    RECEIVED_AT,
    SEQ,
    STORED_COLUMNS,
    AppendResult,
    IdempotencyConflictError,
    IdempotencyKey,
)

__all__ = ["SQLiteEventStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    user_id TEXT NOT NULL,
    product_id TEXT,
    event_type TEXT NOT NULL,
    ts_us INTEGER NOT NULL,
    rating REAL,
    text TEXT NOT NULL DEFAULT '',
    received_us INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_user ON events (tenant, user_id, seq);
CREATE INDEX IF NOT EXISTS events_by_received ON events (tenant, received_us);
CREATE TABLE IF NOT EXISTS idempotency (
    tenant TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    result TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    PRIMARY KEY (tenant, key)
);
"""
#: Added for ads: the campaign an impression/click belongs to (NULL for organic events). Databases
#: created before it get the column on open.
_ADS_COLUMN = "ALTER TABLE events ADD COLUMN campaign_id TEXT"
_ADS_INDEX = (
    "CREATE INDEX IF NOT EXISTS events_by_campaign ON events (tenant, campaign_id) WHERE campaign_id IS NOT NULL"
)
#: Added for exactly-once ingestion: the client's event id, unique per tenant where given.
_EVENT_ID_COLUMN = "ALTER TABLE events ADD COLUMN event_id TEXT"
_EVENT_ID_INDEX = ("CREATE UNIQUE INDEX IF NOT EXISTS events_by_event_id ON events (tenant, event_id) "
                   "WHERE event_id IS NOT NULL")
_INSERT = ("INSERT INTO events (tenant, user_id, product_id, event_type, ts_us, rating, text, received_us, "
           "campaign_id, event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING")
_SELECT = "SELECT user_id, product_id, event_type, ts_us, rating, text, seq, received_us, event_id FROM events"


def _us(ts: pd.Timestamp) -> int:
    return int(ts.value // 1000)


def _frame(rows: list[tuple]) -> pd.DataFrame:
    cols = list(zip(*rows, strict=True)) if rows else [()] * 9
    return pd.DataFrame({
        S.USER_ID: pd.Series(cols[0], dtype="str"),
        S.PRODUCT_ID: pd.Series(list(cols[1]), dtype="str"),  # NULL (product-less search) stays missing
        S.EVENT_TYPE: pd.Series(cols[2], dtype="str"),
        S.TIMESTAMP: pd.to_datetime(pd.Series(cols[3], dtype="int64"), unit="us", utc=True),
        S.RATING: pd.Series(cols[4], dtype="float64"),
        S.TEXT: pd.Series(cols[5], dtype="str"),
        SEQ: pd.Series(cols[6], dtype="int64"),
        RECEIVED_AT: pd.to_datetime(pd.Series(cols[7], dtype="int64"), unit="us", utc=True),
        EVENT_ID: pd.Series(list(cols[8]), dtype=object),
    })[list(STORED_COLUMNS)]


def _optional(events: pd.DataFrame, col: str) -> list[str | None]:
    if col not in events.columns:
        return [None] * len(events)
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else str(v)
            for v in events[col].astype(object)]


def _result_json(r: AppendResult) -> str:
    return json.dumps({"count": r.count, "first_seq": r.first_seq, "last_seq": r.last_seq,
                       "duplicates": r.duplicates, "received_us": _us(r.received_at)})


def _replayed(result: str, n_rows: int) -> AppendResult:
    d = json.loads(result)
    return AppendResult(d["count"], d["first_seq"], d["last_seq"],
                        pd.Timestamp(d["received_us"] * 1000, tz="UTC"), d["duplicates"], (False,) * n_rows, True)


class SQLiteEventStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.is_dir():
            raise ArtifactError(f"events database folder {self.path.parent} does not exist; create it or pass "
                                "another --events-db")
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._writer = self._connect()
        with self._write_lock:
            self._writer.executescript(_SCHEMA)
            cols = {r[1] for r in self._writer.execute("PRAGMA table_info(events)").fetchall()}
            if CAMPAIGN_ID not in cols:
                self._writer.execute(_ADS_COLUMN)
            self._writer.execute(_ADS_INDEX)
            if EVENT_ID not in cols:
                self._writer.execute(_EVENT_ID_COLUMN)
            self._writer.execute(_EVENT_ID_INDEX)

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=10000")
        except sqlite3.DatabaseError as exc:
            raise ArtifactError(f"cannot open events database {self.path}: {exc}; pass another --events-db") from exc
        with self._all_lock:
            self._all.append(conn)
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def append(self, tenant: str, events: pd.DataFrame, *, idempotency: IdempotencyKey | None = None
               ) -> AppendResult:
        now = pd.Timestamp.now(tz="UTC")
        received = _us(now)
        pids = events[S.PRODUCT_ID].astype(object).where(events[S.PRODUCT_ID].notna(), None)
        ratings = events[S.RATING].astype(float)
        rows = [
            (tenant, u if isinstance(u, str) else None, None if p is None or p == "" else str(p), str(t), _us(ts),
             None if np.isnan(r) else float(r), str(x or ""), received, c, e)
            for u, p, t, ts, r, x, c, e in zip(events[S.USER_ID], pids, events[S.EVENT_TYPE], events[S.TIMESTAMP],
                                               ratings, events[S.TEXT].fillna(""), _optional(events, CAMPAIGN_ID),
                                               _optional(events, EVENT_ID), strict=True)
        ]
        if not rows and idempotency is None:
            return AppendResult(0, None, None, now)
        with self._write_lock:
            cur = self._writer.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                if idempotency is not None and (seen := self._recorded(cur, tenant, idempotency)) is not None:
                    cur.execute("ROLLBACK")
                    return _replayed(seen, len(rows))
                seqs: list[int] = []
                stored: list[bool] = []
                for row in rows:
                    cur.execute(_INSERT, row)
                    stored.append(cur.rowcount == 1)
                    if stored[-1]:
                        seqs.append(int(cur.lastrowid or 0))
                result = AppendResult(len(seqs), min(seqs, default=None), max(seqs, default=None), now,
                                      len(rows) - len(seqs), tuple(stored))
                if idempotency is not None:
                    cur.execute("INSERT INTO idempotency (tenant, key, fingerprint, result, created_us) "
                                "VALUES (?, ?, ?, ?, ?)", (tenant, idempotency.key, idempotency.fingerprint,
                                                           _result_json(result), received))
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        return result

    @staticmethod
    def _recorded(cur: sqlite3.Cursor, tenant: str, idempotency: IdempotencyKey) -> str | None:
        """The result stored for this key (None: a new key); raises when it was stored for another batch."""
        row = cur.execute("SELECT fingerprint, result, created_us FROM idempotency WHERE tenant = ? AND key = ?",
                          (tenant, idempotency.key)).fetchone()
        if row is None:
            return None
        if row[0] != idempotency.fingerprint:
            first = pd.Timestamp(int(row[2]) * 1000, tz="UTC").isoformat()
            raise IdempotencyConflictError(
                f"idempotency key {idempotency.key!r} was first used at {first} for a different batch of events; "
                "a key names one batch. Resend exactly that batch to get its answer again, or use a new key for a "
                "new batch")
        return str(row[1])

    def replay(self, tenant: str, idempotency: IdempotencyKey) -> AppendResult | None:
        seen = self._recorded(self._reader().cursor(), tenant, idempotency)
        return None if seen is None else _replayed(seen, 0)

    def user_events(self, tenant: str, user_id: str, *, limit: int = 1000) -> pd.DataFrame:
        rows = self._reader().execute(
            f"SELECT * FROM ({_SELECT} WHERE tenant = ? AND user_id = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq",
            (tenant, user_id, int(limit))).fetchall()
        return _frame(rows)

    def has_user(self, tenant: str, user_id: str) -> bool:
        row = self._reader().execute("SELECT 1 FROM events WHERE tenant = ? AND user_id = ? LIMIT 1",
                                     (tenant, user_id)).fetchone()
        return row is not None

    def received_since(self, tenant: str, since: pd.Timestamp) -> pd.DataFrame:
        rows = self._reader().execute(f"{_SELECT} WHERE tenant = ? AND received_us > ? ORDER BY seq",
                                      (tenant, _us(since))).fetchall()
        return _frame(rows)

    def ad_events(self, tenant: str) -> pd.DataFrame:
        """Every stored impression/click that names a campaign: campaign_id, user_id, event_type, timestamp."""
        rows = self._reader().execute(
            "SELECT campaign_id, user_id, event_type, ts_us FROM events WHERE tenant = ? AND campaign_id IS NOT NULL "
            "ORDER BY seq", (tenant,)).fetchall()
        cols = list(zip(*rows, strict=True)) if rows else [()] * 4
        return pd.DataFrame({
            CAMPAIGN_ID: pd.Series(cols[0], dtype="str"),
            S.USER_ID: pd.Series(cols[1], dtype="str"),
            S.EVENT_TYPE: pd.Series(cols[2], dtype="str"),
            S.TIMESTAMP: pd.to_datetime(pd.Series(cols[3], dtype="int64"), unit="us", utc=True),
        })

    def count(self, tenant: str) -> int:
        return int(self._reader().execute("SELECT COUNT(*) FROM events WHERE tenant = ?", (tenant,)).fetchone()[0])

    def close(self) -> None:
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
