"""The `EventStore` protocol: durable, tenant-scoped storage of canonical events.

Every method takes the tenant first: one tenant's events are never visible through another's calls.
Frames going in are canonical, validated events (see `recsys.data.dataset`); frames coming out are canonical
events plus `seq` (store order), `received_at` (when the store committed them, UTC) and `event_id`.

Exactly-once ingestion, for clients that retry:
- An event may carry a client `event_id`, unique per tenant: an event whose id is already stored (by an
  earlier call, or earlier in the same batch) is skipped and counted in `AppendResult.duplicates`, while
  the rest of the batch is stored. Only what a call stored is in `AppendResult.stored`, so counters fed
  from it never count a retried event twice.
- A batch may carry an `IdempotencyKey`: the first call with that key stores the batch and, in the same
  transaction, its `AppendResult`; a later call with the same key and the same batch (same fingerprint)
  stores nothing and gets that result back (`replayed=True`); the same key with another batch raises
  `IdempotencyConflictError`. Keys are kept as long as the events.

Tailing, for processes that share one store: `events_after(tenant, seq, limit)` reads what was stored after a
watermark, so each service process applies every event to its counters once, whichever process stored it
(`AppendResult.previous_seq` lets the process that stored a batch count it without reading it back). A
watermark may only move past `seq` s if no event of the tenant with a lower seq can still appear, so a
backend must make a tenant's seqs visible in increasing order: SQLite has one writer; PostgreSQL serialises
a tenant's appends with a transaction-scoped advisory lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

import pandas as pd

from recsys.data import schema as S
from recsys.errors import RecsysError

__all__ = ["EventStore", "AppendResult", "IdempotencyKey", "IdempotencyConflictError", "SEQ", "CAMPAIGN_ID",
           "EVENT_ID", "RECEIVED_AT", "STORED_COLUMNS", "local_reads", "append_without_waiting"]

SEQ: Final = "seq"
#: Optional column of appended frames: the ad campaign an impression/click belongs to.
CAMPAIGN_ID: Final = "campaign_id"
#: Optional column of appended frames: the client's id of the event, unique per tenant (null: none).
EVENT_ID: Final = "event_id"
RECEIVED_AT: Final = "received_at"
STORED_COLUMNS: Final = (*S.EVENT_COLUMNS, SEQ, RECEIVED_AT, EVENT_ID)


class IdempotencyConflictError(RecsysError):
    """An idempotency key was used again with a different batch than the one it first stored."""

    exit_code = 2
    http_status = 409


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's key for one batch, and a fingerprint of that batch's content (e.g. a sha256)."""

    key: str
    fingerprint: str


@dataclass(frozen=True)
class AppendResult:
    """What a durable append committed: how many events and their sequence range."""

    count: int
    first_seq: int | None
    last_seq: int | None
    received_at: pd.Timestamp
    #: Events skipped because their `event_id` was already stored (earlier, or earlier in the batch).
    duplicates: int = 0
    #: Per input row: whether this call stored it (all False for a replayed answer).
    stored: tuple[bool, ...] = ()
    #: The result recorded for an earlier call with the same idempotency key; this call stored nothing.
    replayed: bool = False
    #: The seq of each stored row, in input order (empty for a replayed answer).
    seqs: tuple[int, ...] = ()
    #: The tenant's highest seq before this call's rows (0: none), read inside the append's transaction once
    #: the tenant's earlier appends had committed; None for a replayed answer. A feed whose watermark equals it
    #: has seen every event before this batch, so it may count the stored rows from memory (see
    #: `recsys.service.feed.EventFeed.count_stored`) instead of reading them back.
    previous_seq: int | None = None


@runtime_checkable
class EventStore(Protocol):
    def append(self, tenant: str, events: pd.DataFrame, *, idempotency: IdempotencyKey | None = None
               ) -> AppendResult:
        """Store the rows in one transaction; return only after the commit is durable (all or nothing).
        Rows whose `event_id` is already stored are skipped; with `idempotency`, see the module docstring."""
        ...

    def replay(self, tenant: str, idempotency: IdempotencyKey) -> AppendResult | None:
        """The result recorded for this key (`replayed=True`), None when the key is new; raises
        `IdempotencyConflictError` when the key was used for another batch."""
        ...

    def user_events(self, tenant: str, user_id: str, *, limit: int = 1000) -> pd.DataFrame:
        """The user's most recent `limit` stored events, oldest first."""
        ...

    def has_user(self, tenant: str, user_id: str) -> bool: ...

    def user_last_seq(self, tenant: str, user_id: str) -> int:
        """The seq of the user's latest stored event, 0 when they have none (one index probe): what a
        cached online profile of the user is keyed by."""
        ...

    def received_since(self, tenant: str, since: pd.Timestamp) -> pd.DataFrame:
        """Events committed after `since` (to replay live counters after start-up or an index swap)."""
        ...

    def events_after(self, tenant: str, after_seq: int, limit: int) -> pd.DataFrame:
        """At most `limit` events with seq > `after_seq`, in seq order: the columns of `received_since` plus
        `campaign_id` (null for organic events), so one frame feeds both the live counters and the ad ledger."""
        ...

    def last_seq(self, tenant: str) -> int:
        """The highest seq stored for the tenant, 0 when it has none: where a newly loaded version's replay
        ends and its tailing (`events_after`) starts."""
        ...

    def ad_events(self, tenant: str, *, through_seq: int | None = None) -> pd.DataFrame:
        """Stored impressions/clicks naming a campaign (campaign_id, user_id, event_type, timestamp), in order;
        with `through_seq`, only those with seq <= it."""
        ...

    def count(self, tenant: str) -> int: ...

    def close(self) -> None: ...


def local_reads(store: EventStore) -> bool:
    """Whether the store's reads are local and never wait on a writer (a backend that says so with a true
    `local_reads` attribute: SQLite in WAL mode), so a server may read it on its event loop; a store behind
    a network round trip (PostgreSQL) is read in a thread."""
    return getattr(store, "local_reads", False) is True


def append_without_waiting(store: EventStore, tenant: str, events: pd.DataFrame, *,
                           idempotency: IdempotencyKey | None = None) -> AppendResult | None:
    """`store.append` when the store can tell that it will not wait for another writer (a backend with a
    `try_append` method: SQLite's writer lock taken without blocking), else None with nothing stored: the
    caller then appends where waiting is harmless (a thread). A store without the method always gives None."""
    attempt = getattr(store, "try_append", None)
    return None if attempt is None else attempt(tenant, events, idempotency=idempotency)
