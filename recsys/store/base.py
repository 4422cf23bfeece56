"""The `EventStore` protocol: durable, tenant-scoped storage of canonical events.

Every method takes the tenant first: one tenant's events are never visible through another's calls.
Frames going in are canonical, validated events (see `recsys.data.dataset`); frames coming out are canonical
events plus `seq` (store order) and `received_at` (when the store committed them, UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

import pandas as pd

from recsys.data import schema as S

__all__ = ["EventStore", "AppendResult", "SEQ", "CAMPAIGN_ID", "RECEIVED_AT", "STORED_COLUMNS"]

SEQ: Final = "seq"
#: Optional column of appended frames: the ad campaign an impression/click belongs to.
CAMPAIGN_ID: Final = "campaign_id"
RECEIVED_AT: Final = "received_at"
STORED_COLUMNS: Final = (*S.EVENT_COLUMNS, SEQ, RECEIVED_AT)


@dataclass(frozen=True)
class AppendResult:
    """What a durable append committed: how many events and their sequence range."""

    count: int
    first_seq: int | None
    last_seq: int | None
    received_at: pd.Timestamp


@runtime_checkable
class EventStore(Protocol):
    def append(self, tenant: str, events: pd.DataFrame) -> AppendResult:
        """Store all rows in one transaction; return only after the commit is durable (all or nothing)."""
        ...

    def user_events(self, tenant: str, user_id: str, *, limit: int = 1000) -> pd.DataFrame:
        """The user's most recent `limit` stored events, oldest first."""
        ...

    def has_user(self, tenant: str, user_id: str) -> bool: ...

    def received_since(self, tenant: str, since: pd.Timestamp) -> pd.DataFrame:
        """Events committed after `since` (to replay live counters after start-up or an index swap)."""
        ...

    def ad_events(self, tenant: str) -> pd.DataFrame:
        """Stored impressions/clicks naming a campaign (campaign_id, user_id, event_type, timestamp), in order."""
        ...

    def count(self, tenant: str) -> int: ...

    def close(self) -> None: ...
