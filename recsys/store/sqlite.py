"""`SQLiteEventStore`: the embedded default backend of `EventStore`.

Durability: WAL journal with `synchronous=FULL`, so a committed transaction's WAL frames are fsync'ed
before `append` returns, and an acknowledged event survives SIGKILL or power loss. Readers get their
own connection per thread (WAL lets them read while one writer commits); the writer connection is
serialised by a lock. All SQL is parameterised.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data import schema as S
from recsys.errors import ArtifactError
from recsys.store.base import CAMPAIGN_ID, RECEIVED_AT, SEQ, STORED_COLUMNS, AppendResult

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
"""
#: Added for ads: the campaign an impression/click belongs to (NULL for organic events). Databases
#: created before it get the column on open.
_ADS_COLUMN = "ALTER TABLE events ADD COLUMN campaign_id TEXT"
_ADS_INDEX = (
    "CREATE INDEX IF NOT EXISTS events_by_campaign ON events (tenant, campaign_id) WHERE campaign_id IS NOT NULL"
)
_SELECT = "SELECT user_id, product_id, event_type, ts_us, rating, text, seq, received_us FROM events"


def _us(ts: pd.Timestamp) -> int:
    return int(ts.value // 1000)


def _frame(rows: list[tuple]) -> pd.DataFrame:
    cols = list(zip(*rows, strict=True)) if rows else [()] * 8
    return pd.DataFrame({
        S.USER_ID: pd.Series(cols[0], dtype="str"),
        S.PRODUCT_ID: pd.Series(list(cols[1]), dtype="str"),  # NULL (product-less search) stays missing
        S.EVENT_TYPE: pd.Series(cols[2], dtype="str"),
        S.TIMESTAMP: pd.to_datetime(pd.Series(cols[3], dtype="int64"), unit="us", utc=True),
        S.RATING: pd.Series(cols[4], dtype="float64"),
        S.TEXT: pd.Series(cols[5], dtype="str"),
        SEQ: pd.Series(cols[6], dtype="int64"),
        RECEIVED_AT: pd.to_datetime(pd.Series(cols[7], dtype="int64"), unit="us", utc=True),
    })[list(STORED_COLUMNS)]


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

    def append(self, tenant: str, events: pd.DataFrame) -> AppendResult:
        now = pd.Timestamp.now(tz="UTC")
        received = _us(now)
        pids = events[S.PRODUCT_ID].astype(object).where(events[S.PRODUCT_ID].notna(), None)
        ratings = events[S.RATING].astype(float)
        camps = (events[CAMPAIGN_ID].astype(object).where(events[CAMPAIGN_ID].notna(), None)
                 if CAMPAIGN_ID in events.columns else [None] * len(events))
        rows = [
            (tenant, u if isinstance(u, str) else None, None if p is None or p == "" else str(p), str(t), _us(ts),
             None if np.isnan(r) else float(r), str(x or ""), received, None if c is None else str(c))
            for u, p, t, ts, r, x, c in zip(events[S.USER_ID], pids, events[S.EVENT_TYPE], events[S.TIMESTAMP],
                                            ratings, events[S.TEXT].fillna(""), camps, strict=True)
        ]
        if not rows:
            return AppendResult(0, None, None, now)
        with self._write_lock:
            cur = self._writer.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.executemany(
                    "INSERT INTO events (tenant, user_id, product_id, event_type, ts_us, rating, text, received_us, "
                    "campaign_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                last = int(cur.execute("SELECT last_insert_rowid()").fetchone()[0])
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        return AppendResult(len(rows), last - len(rows) + 1, last, now)

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
