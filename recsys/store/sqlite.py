"""`SQLiteEventStore`: the embedded default backend of `EventStore`.

Durability: WAL journal with `synchronous=FULL`, so a committed transaction's WAL frames are fsync'ed
before `append` returns, and an acknowledged event survives SIGKILL or power loss. Readers get their
own connection per thread (WAL lets them read while one writer commits); the writer connection is
serialised by a lock. All SQL is parameterised.

Writers in several processes (`recsys serve --workers N` on one database) queue on an exclusive `flock`
of `<database>-writer.lock` before `BEGIN IMMEDIATE`, so a waiting writer wakes the moment the previous
one commits. Without it they meet at SQLite's own write lock, whose busy handler polls with sleeps of
1 to 100 ms: under a steady event stream those sleeps, not the commits, made the tail latency of every
worker's event batches (and left the cores idle while writers slept). The busy timeout stays as the
fallback for writers that do not take the file lock (another program on the same database).

Exactly-once (see `recsys.store.base`): a partial UNIQUE index on (tenant, event_id) makes the database
itself refuse a second copy of an identified event, and each row is inserted with `ON CONFLICT DO
NOTHING`, which skips only such uniqueness conflicts (a NOT NULL violation still fails the whole batch).
The `idempotency` table holds each (tenant, key)'s batch fingerprint and result, written in the same
transaction as the events, so a crash can never leave events stored without their key or the reverse.
Databases created before these existed get the column, index and table on open.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from recsys.errors import ArtifactError
from recsys.store.base import CAMPAIGN_ID, EVENT_ID, AppendResult, IdempotencyKey
from recsys.store.rows import Row, ad_frame, conflict, frame, replayed, result_json, rows, tail_frame, us

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
-- A tenant's last seq (every append and every sync probe asks) is one lookup here, not a scan of its events.
CREATE INDEX IF NOT EXISTS events_by_tenant_seq ON events (tenant, seq);
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
_TAIL = ("SELECT user_id, product_id, event_type, ts_us, rating, text, seq, received_us, event_id, campaign_id "
         "FROM events WHERE tenant = ? AND seq > ? ORDER BY seq LIMIT ?")
#: Larger than any seq (SQLite's rowid is a signed 64-bit integer).
_MAX_SEQ = 2**63 - 1


class SQLiteEventStore:
    #: Reads are local and never wait on a writer (WAL mode): `recsys.store.base.local_reads`.
    local_reads = True

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
        try:
            self._lock_fd = os.open(f"{self.path}-writer.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise ArtifactError(f"cannot create the writer lock beside events database {self.path}: {exc}; pass "
                                "another --events-db") from exc
        with self._writing():
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

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """The writer connection, held by this thread and, through the lock file, by this process alone."""
        with self._write_lock:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)  # blocks without the GIL
            try:
                yield
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    @contextmanager
    def _writing_now(self) -> Iterator[bool]:
        """Like `_writing`, without waiting: yields False (and holds nothing) when another thread or process
        holds the writer."""
        if not self._write_lock.acquire(blocking=False):
            yield False
            return
        try:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        finally:
            self._write_lock.release()

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def append(self, tenant: str, events: pd.DataFrame, *, idempotency: IdempotencyKey | None = None
               ) -> AppendResult:
        now = pd.Timestamp.now(tz="UTC")
        batch = rows(tenant, events, us(now))
        if not batch and idempotency is None:
            return AppendResult(0, None, None, now)
        with self._writing():
            return self._commit(tenant, batch, idempotency, now)

    def try_append(self, tenant: str, events: pd.DataFrame, *, idempotency: IdempotencyKey | None = None
                   ) -> AppendResult | None:
        """`append`, unless it would wait for another writer (thread or process): then None, nothing stored.
        What it never avoids is the commit's own fsync."""
        now = pd.Timestamp.now(tz="UTC")
        batch = rows(tenant, events, us(now))
        if not batch and idempotency is None:
            return AppendResult(0, None, None, now)
        with self._writing_now() as held:
            return self._commit(tenant, batch, idempotency, now) if held else None

    def _commit(self, tenant: str, batch: list[Row], idempotency: IdempotencyKey | None,
                now: pd.Timestamp) -> AppendResult:
        """One transaction of `batch` (and the key's record) on the writer connection, which the caller holds."""
        cur = self._writer.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            if idempotency is not None and (seen := self._recorded(cur, tenant, idempotency)) is not None:
                cur.execute("ROLLBACK")
                return replayed(seen, len(batch))
            previous = self._last_seq(cur, tenant)
            seqs: list[int] = []
            stored: list[bool] = []
            for row in batch:
                cur.execute(_INSERT, row)
                stored.append(cur.rowcount == 1)
                if stored[-1]:
                    seqs.append(int(cur.lastrowid or 0))
            result = AppendResult(len(seqs), min(seqs, default=None), max(seqs, default=None), now,
                                  len(batch) - len(seqs), tuple(stored), seqs=tuple(seqs),
                                  previous_seq=previous)
            if idempotency is not None:
                cur.execute("INSERT INTO idempotency (tenant, key, fingerprint, result, created_us) "
                            "VALUES (?, ?, ?, ?, ?)", (tenant, idempotency.key, idempotency.fingerprint,
                                                       result_json(result), us(now)))
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
            raise conflict(idempotency, row[2])
        return str(row[1])

    def replay(self, tenant: str, idempotency: IdempotencyKey) -> AppendResult | None:
        seen = self._recorded(self._reader().cursor(), tenant, idempotency)
        return None if seen is None else replayed(seen, 0)

    def user_events(self, tenant: str, user_id: str, *, limit: int = 1000) -> pd.DataFrame:
        records = self._reader().execute(
            f"SELECT * FROM ({_SELECT} WHERE tenant = ? AND user_id = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq",
            (tenant, user_id, int(limit))).fetchall()
        return frame(records)

    def has_user(self, tenant: str, user_id: str) -> bool:
        row = self._reader().execute("SELECT 1 FROM events WHERE tenant = ? AND user_id = ? LIMIT 1",
                                     (tenant, user_id)).fetchone()
        return row is not None

    def user_last_seq(self, tenant: str, user_id: str) -> int:
        row = self._reader().execute("SELECT MAX(seq) FROM events WHERE tenant = ? AND user_id = ?",
                                     (tenant, user_id)).fetchone()
        return int(row[0] or 0)

    def received_since(self, tenant: str, since: pd.Timestamp) -> pd.DataFrame:
        records = self._reader().execute(f"{_SELECT} WHERE tenant = ? AND received_us > ? ORDER BY seq",
                                         (tenant, us(since))).fetchall()
        return frame(records)

    def events_after(self, tenant: str, after_seq: int, limit: int) -> pd.DataFrame:
        # seq is the rowid: a range scan of the primary key. One writer at a time commits seqs in order.
        return tail_frame(self._reader().execute(_TAIL, (tenant, int(after_seq), int(limit))).fetchall())

    def last_seq(self, tenant: str) -> int:
        return self._last_seq(self._reader().cursor(), tenant)

    @staticmethod
    def _last_seq(cur: sqlite3.Cursor, tenant: str) -> int:
        row = cur.execute("SELECT seq FROM events WHERE tenant = ? ORDER BY seq DESC LIMIT 1", (tenant,)).fetchone()
        return 0 if row is None else int(row[0])

    def ad_events(self, tenant: str, *, through_seq: int | None = None) -> pd.DataFrame:
        """Every stored impression/click that names a campaign: campaign_id, user_id, event_type, timestamp."""
        records = self._reader().execute(
            "SELECT campaign_id, user_id, event_type, ts_us FROM events WHERE tenant = ? AND campaign_id IS NOT NULL "
            "AND seq <= ? ORDER BY seq", (tenant, _MAX_SEQ if through_seq is None else int(through_seq))).fetchall()
        return ad_frame(records)

    def count(self, tenant: str) -> int:
        return int(self._reader().execute("SELECT COUNT(*) FROM events WHERE tenant = ?", (tenant,)).fetchone()[0])

    def close(self) -> None:
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
        with self._write_lock:
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1
