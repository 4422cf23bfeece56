"""Keeping one service process in step with what all of them share: the event store and the index folder.

Several workers (`recsys serve --workers N`) and several nodes serve a tenant from one event store and one
read-only index folder, and nothing they answer from lives only in one process's memory:

- `EventFeed` tails the store. Each served version keeps the seq of the last stored event it applied (its
  watermark); `sync` reads the events stored after it (`EventStore.events_after`, bounded batches, until
  caught up) and applies them to that version's live popularity/trending counters and ad ledger, so every
  process counts every event once, whichever process stored it, and a retried sync re-reads nothing below
  its watermark. Events this process stored are counted from memory (`count_stored`) when nothing else was
  stored for the tenant between the watermark and them, and through the same sync otherwise.
- `recsys.service.follow.IndexFollower` polls each tenant's `current` pointer and switches the tenant when
  it moved, so `recsys build` + `POST /v1/admin/reload` on one node reach every process.

Sync runs in the request path, not in a thread: `due()` is one clock comparison at the start of each tenant
request, and when due one thread syncs while concurrent requests answer from the counters as they are. So
every answer is at most about `sync_interval` (plus one sync) behind the store, an idle process does no
work, and a test with `sync_interval=0` sees every stored event on its next request without sleeping.
Reloads go the other way, into one background thread: loading and verifying a version takes seconds that
no request should wait for, and a node that receives no requests must still follow the pointer.
"""

from __future__ import annotations

import threading
import time

import pandas as pd

from recsys.ads.ledger import AdLedger
from recsys.features.live import LiveSignals
from recsys.store import AppendResult, EventStore
from recsys.store.base import SEQ

__all__ = ["EventFeed", "SYNC_BATCH"]

#: Events read from the store per round of a sync; a sync loops until a round comes back short.
SYNC_BATCH = 1000


class EventFeed:
    """Applies a tenant's stored events past `watermark`, in seq order, to one version's counters."""

    def __init__(self, tenant: str, live: LiveSignals, watermark: int, *, ledger: AdLedger | None = None,
                 interval: float = 1.0, batch: int = SYNC_BATCH) -> None:
        self.tenant = tenant
        self.live = live
        self.ledger = ledger
        self.watermark = watermark
        self.interval = interval
        self.batch = batch
        self._lock = threading.Lock()
        self._last = time.monotonic()

    def due(self) -> bool:
        """Cheap enough for every request: whether `sync_interval` passed since the last sync began."""
        return time.monotonic() - self._last >= self.interval and not self._lock.locked()

    def sync(self, store: EventStore, *, wait: bool = False, through: int | None = None) -> int:
        """Apply what was stored after the watermark; return how many events were applied.

        Without `wait`, a sync already running in another thread makes this one return 0 at once (the
        request answers from the counters as they are). With `through` (a seq this process just stored),
        wait for the lock and stop once the watermark reaches it, so the caller's events are counted when
        it returns."""
        if not self._lock.acquire(blocking=wait):
            return 0
        try:
            self._last = time.monotonic()
            applied = 0
            while through is None or self.watermark < through:
                if store.last_seq(self.tenant) <= self.watermark:  # one index probe; most syncs find nothing
                    break
                frame = store.events_after(self.tenant, self.watermark, self.batch)
                if len(frame):
                    self.live.apply(frame)
                    if self.ledger is not None:
                        self.ledger.apply(frame)  # counts only rows naming one of its campaigns
                    self.watermark = int(frame[SEQ].iloc[-1])
                    applied += len(frame)
                if len(frame) < self.batch:
                    break
            return applied
        finally:
            self._lock.release()

    def count_stored(self, store: EventStore, stored: pd.DataFrame, result: AppendResult) -> int:
        """Count the rows this process just stored (`stored`: the rows `result.stored` marks, with the columns
        the counters and the ledger read) and return how many were applied.

        When the watermark is the tenant's last seq before the batch (`result.previous_seq`), the batch is
        exactly the events after the watermark, so they are applied from memory and the watermark moves to
        `result.last_seq` without reading them back. Otherwise another writer's events came in between (or a
        concurrent sync already read past this batch) and the normal sync through `result.last_seq` applies
        them all in seq order, or nothing when they were already applied."""
        if result.last_seq is None:
            return 0
        with self._lock:
            if result.previous_seq is not None and self.watermark == result.previous_seq:
                self.live.apply(stored)
                if self.ledger is not None:
                    self.ledger.apply(stored)
                self.watermark = result.last_seq
                return len(stored)
        return self.sync(store, wait=True, through=result.last_seq)

    def adopt_ledger(self, ledger: AdLedger, through: int, store: EventStore) -> None:
        """Feed `ledger` from now on. It was replayed from the ad events up to seq `through` (at most this
        feed's watermark); the events between are applied to it first, under the lock, so it ends exactly
        where the feed is and the next sync continues both without a gap or a repeat."""
        with self._lock:
            after = through
            while after < self.watermark:
                frame = store.events_after(self.tenant, after, self.batch)
                frame = frame[frame[SEQ] <= self.watermark]
                if not len(frame):
                    break
                ledger.apply(frame)
                after = int(frame[SEQ].iloc[-1])
            self.ledger = ledger
