"""Event stores: one interface (`EventStore`), an embedded SQLite backend behind it.

Business logic (the service) talks to `EventStore` only, so a server database can implement the same
protocol later without touching the service.
"""

from __future__ import annotations

from recsys.store.base import (
    CAMPAIGN_ID,
    EVENT_ID,
    STORED_COLUMNS,
    AppendResult,
    EventStore,
    IdempotencyConflictError,
    IdempotencyKey,
)
from recsys.store.sqlite import SQLiteEventStore

__all__ = ["EventStore", "AppendResult", "IdempotencyKey", "IdempotencyConflictError", "SQLiteEventStore",
           "STORED_COLUMNS", "CAMPAIGN_ID", "EVENT_ID"]
