"""`open_event_store`: the one place that turns an `--events-db` value into an `EventStore`."""

from __future__ import annotations

from pathlib import Path

from recsys.store.base import EventStore
from recsys.store.dsn import is_postgres_url
from recsys.store.sqlite import SQLiteEventStore

__all__ = ["open_event_store"]


def open_event_store(target: str | Path) -> EventStore:
    """`postgresql://…` or `postgres://…` opens a `PostgresEventStore` on that server; anything else is the
    path of a SQLite file (created when missing; its folder must exist)."""
    if isinstance(target, str) and is_postgres_url(target):
        # imported here: psycopg and its pool are ~9 MB of private heap in each worker of a SQLite server
        from recsys.store.postgres import PostgresEventStore

        return PostgresEventStore(target)
    return SQLiteEventStore(target)
