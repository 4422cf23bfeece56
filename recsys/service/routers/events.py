"""Event ingestion: validated as a whole, stored in one durable transaction, then counted in the live
counters by the feed that also brings in other workers' and nodes' events (`recsys.service.feed`): from
memory when no other writer stored an event of the tenant in between, else by reading them back; so each
event is counted once whichever process stored it, and a process's own events are counted before it
answers. The answer comes only after the commit, so an acknowledged event survives a crash; a batch
with any bad row is refused entirely (422) and nothing is stored.

Event times are checked against the receive time of the request: an event dated more than
`max_future_skew` after it, or before `EARLIEST_EVENT`, is refused (see "Time bounds" in
`recsys.data.validation`), since profiles weigh events by their age as of the time of the question.

Retries are safe (see `recsys.store.base`): events with an `event_id` that is already stored are skipped
and counted in `duplicates`; a batch sent again with the same `Idempotency-Key` header stores nothing and
gets the first answer again (with `Idempotent-Replayed: true`), before any validation, so the answer does
not change with the clock or a swapped index; the same key with another batch is a 409. Live counters,
ad spend and metrics count only the events the store says it stored."""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from typing import Annotated, Any

import anyio
import numpy as np
import pandas as pd
from fastapi import APIRouter, Header, Request, Response

from recsys.data import schema as S
from recsys.data.dataset import normalize_events
from recsys.data.event_rows import ROWWISE_MAX, EventRows
from recsys.data.rules import is_null
from recsys.data.validation import EARLIEST_EVENT, event_time_problems, validate_events
from recsys.errors import DataValidationError, Problem
from recsys.service.ads import ad_event_problems
from recsys.service.deps import SettingsDep, StoreDep, TenantDep, count_stored
from recsys.service.schemas import ErrorOut, EventBatch, EventsAck, error_responses
from recsys.service.settings import Settings
from recsys.service.tenants import Served, Tenant
from recsys.store import CAMPAIGN_ID, EVENT_ID, AppendResult, EventStore, IdempotencyKey, append_without_waiting

router = APIRouter(prefix="/v1", tags=["events"], responses=error_responses(401, 403, 413, 422, 503))
_FILE = "request body"
#: Longest Idempotency-Key accepted (a UUID is 36 characters).
MAX_IDEMPOTENCY_KEY = 256
_REPLAYED = "Idempotent-Replayed"


def _utc(ts: pd.Timestamp) -> pd.Timestamp:
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _ack(result: AppendResult) -> EventsAck:
    """The answer is a function of the stored result alone, so a replayed result answers identically."""
    return EventsAck(accepted=result.count, first_seq=result.first_seq, last_seq=result.last_seq,
                     duplicates=result.duplicates)


def _replay(result: AppendResult, response: Response) -> EventsAck:
    response.headers[_REPLAYED] = "true"
    return _ack(result)


def _checked(raw: list[dict[str, Any]], served: Served, received: pd.Timestamp, settings: Settings
             ) -> tuple[pd.DataFrame, list[Problem]]:
    """The batch normalised to canonical events (followed by campaign_id and event_id), and every problem with it.

    The rules run row by row on a small batch (`recsys.data.event_rows`: the same rules and messages, without
    building and scanning frames) and on frames otherwise, or when a value is one the row-wise execution
    leaves to them. An ad impression of a product-less campaign (a headline, a lookalike) may name no
    product, so only the other events are checked against the events schema."""
    campaigns = [r[CAMPAIGN_ID] for r in raw]
    # Stored beside the canonical columns, never checked by the events schema.
    extra = {CAMPAIGN_ID: campaigns, EVENT_ID: [r[EVENT_ID] for r in raw]}
    problems = ad_event_problems([c for c in campaigns if c is not None], served.ads, _FILE)
    bounds: dict[str, Any] = dict(
        now=received, max_future_skew=pd.Timedelta(settings.max_future_skew), earliest=EARLIEST_EVENT,
        clock="the server's receive time", row="event",
        fix="Check the client's clock and time zone (a timestamp without a zone is UTC); the server's limit is "
            "its max_future_skew setting (RECSYS_MAX_FUTURE_SKEW).")
    rows = EventRows.of(raw) if len(raw) <= ROWWISE_MAX else None
    if rows is not None:
        pids = rows.columns[S.PRODUCT_ID]
        problems += rows.subset(_schema_checked(campaigns, pids)).problems(None, _FILE)
        events = rows.frame(**extra)
    else:
        events = normalize_events(pd.DataFrame(raw))
        pids = events[S.PRODUCT_ID].tolist()
        problems += validate_events(events[_schema_checked(campaigns, pids)], None, _FILE)
        for col, values in extra.items():
            events[col] = pd.Series(values, dtype=object)
    unknown = [p for p in pids if not is_null(p) and p != "" and served.art.product_position(p) is None]
    if unknown:
        problems.append(Problem(_FILE, S.PRODUCT_ID, f"{len(unknown)} product_id(s) not in the catalogue of "
                                f"index {served.version}", ", ".join(list(dict.fromkeys(unknown))[:5])))
    if rows is not None:
        problems += rows.time_problems(_FILE, **bounds)
    else:
        problems += event_time_problems(events[S.TIMESTAMP].reset_index(drop=True), _FILE, **bounds)
    return events, problems


def _schema_checked(campaigns: list[str | None], pids: list[Any]) -> list[bool]:
    """The events checked against the events schema: all but ad events without a product."""
    return [c is None or not is_null(p) for c, p in zip(campaigns, pids, strict=True)]


def _prepare(batch: EventBatch, tenant: Tenant, store: EventStore, settings: Settings,
             idempotency_key: str | None) -> AppendResult | tuple[pd.DataFrame, IdempotencyKey | None]:
    """Everything before the write: the first answer of a key already used, else the checked events and key."""
    received = pd.Timestamp.now(tz="UTC")
    # The batch's content, not its bytes: the same events re-serialised by a retrying client are the same batch.
    key = None if idempotency_key is None else IdempotencyKey(
        idempotency_key, hashlib.sha256(batch.model_dump_json().encode()).hexdigest())
    if key is not None and (seen := store.replay(tenant.name, key)) is not None:
        return seen
    if len(batch.events) > settings.max_events_per_batch:
        raise DataValidationError([Problem(_FILE, "events", f"at most {settings.max_events_per_batch} events per "
                                           f"batch, got {len(batch.events)}", "split the batch")])
    raw = [e.model_dump() for e in batch.events]
    for r in raw:
        r[S.TIMESTAMP] = _utc(pd.Timestamp(r[S.TIMESTAMP]))
    events, problems = _checked(raw, tenant.served, received, settings)
    if problems:
        raise DataValidationError(problems)
    return events, key


def _finish(ack: AppendResult, events: pd.DataFrame, request: Request, response: Response, tenant: Tenant,
            store: EventStore) -> EventsAck:
    """Everything after the commit: count what was stored and answer."""
    if ack.replayed:  # the same key committed meanwhile (a concurrent retry)
        return _replay(ack, response)
    new = events if all(ack.stored) else events[np.asarray(ack.stored, dtype=bool)]
    count_stored(tenant, store, new, ack)
    counter = request.app.state.metrics.events
    for etype, n in Counter(new[S.EVENT_TYPE].tolist()).items():
        counter.labels(tenant.name, str(etype)).inc(n)
    return _ack(ack)


def _ingest(batch: EventBatch, request: Request, response: Response, tenant: Tenant, store: EventStore,
            settings: Settings, idempotency_key: str | None) -> EventsAck:
    prepared = _prepare(batch, tenant, store, settings, idempotency_key)
    if isinstance(prepared, AppendResult):
        return _replay(prepared, response)
    events, key = prepared
    return _finish(store.append(tenant.name, events, idempotency=key), events, request, response, tenant, store)


@router.post("/events", response_model=EventsAck, responses={409: {
    "model": ErrorOut, "description": "The Idempotency-Key was already used for a different batch; nothing stored"}})
async def ingest(batch: EventBatch, request: Request, response: Response, tenant: TenantDep, store: StoreDep,
                 settings: SettingsDep,
                 idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1,
                                                               max_length=MAX_IDEMPOTENCY_KEY)] = None) -> EventsAck:
    # Where the service ranks on the event loop (a local store: `Settings.inline_reads`), the whole batch
    # runs there in turn with the reads when the writer is free: the write is one short local transaction
    # (0.5-0.7 ms for 10 events, its fsync included, on a SQLite store here). Under load, every hand-off
    # to the threadpool and back waits for the loop's turn behind the requests in progress, which made a
    # batch take 3 times as long as a read (mixed load, 16 connections, 2 workers: p50 93 against 33 ms).
    # Only a write that would wait for another writer (the other workers share the database) goes to the
    # threadpool. Otherwise (PostgreSQL: every step is a round trip) the whole batch runs in the threadpool.
    if not getattr(request.app.state, "inline_reads", False):
        return await anyio.to_thread.run_sync(functools.partial(
            _ingest, batch, request, response, tenant, store, settings, idempotency_key))
    prepared = _prepare(batch, tenant, store, settings, idempotency_key)
    if isinstance(prepared, AppendResult):
        return _replay(prepared, response)
    events, key = prepared
    ack = append_without_waiting(store, tenant.name, events, idempotency=key)
    if ack is None:
        ack = await anyio.to_thread.run_sync(functools.partial(store.append, tenant.name, events, idempotency=key))
    return _finish(ack, events, request, response, tenant, store)
