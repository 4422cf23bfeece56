"""Event stores: one interface (`EventStore`) and two backends behind it, embedded SQLite (the default) and
a PostgreSQL server (`PostgresEventStore`, for several processes sharing one events database).

Business logic (the service) talks to `EventStore` only; `open_event_store` picks the backend from the
`--events-db` value (a `postgresql://` URL or a file path), so no flag is threaded through the service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recsys.lazy import lazy_names

if TYPE_CHECKING:
    from recsys.store.base import (
        CAMPAIGN_ID,
        EVENT_ID,
        STORED_COLUMNS,
        AppendResult,
        EventStore,
        IdempotencyConflictError,
        IdempotencyKey,
        append_without_waiting,
        local_reads,
    )
    from recsys.store.factory import open_event_store
    from recsys.store.postgres import PostgresEventStore
    from recsys.store.sqlite import SQLiteEventStore

__all__ = ["EventStore", "AppendResult", "IdempotencyKey", "IdempotencyConflictError", "SQLiteEventStore",
           "PostgresEventStore", "open_event_store", "STORED_COLUMNS", "CAMPAIGN_ID", "EVENT_ID",
           "local_reads", "append_without_waiting"]

#: Where each name lives, imported on first use (PEP 562): the backends import pandas and psycopg, which
#: a process reading only `recsys.store.dsn` (the `recsys serve` supervisor's
#: settings) should not load.
_HOME = {**dict.fromkeys(("CAMPAIGN_ID", "EVENT_ID", "STORED_COLUMNS", "AppendResult", "EventStore",
                          "IdempotencyConflictError", "IdempotencyKey", "local_reads", "append_without_waiting"),
                        "recsys.store.base"),
         "open_event_store": "recsys.store.factory", "PostgresEventStore": "recsys.store.postgres",
         "SQLiteEventStore": "recsys.store.sqlite"}


__getattr__, __dir__ = lazy_names("recsys.store", _HOME, globals())
