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

import hashlib
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import APIRouter, Header, Request, Response

from recsys.data import schema as S
from recsys.data.dataset import normalize_events
from recsys.data.validation import EARLIEST_EVENT, event_time_problems, validate_events
from recsys.errors import DataValidationError, Problem
from recsys.service.ads import ad_event_problems
from recsys.service.deps import SettingsDep, StoreDep, TenantDep, count_stored
from recsys.service.schemas import ErrorOut, EventBatch, EventsAck, error_responses
from recsys.store import CAMPAIGN_ID, EVENT_ID, AppendResult, IdempotencyKey

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


@router.post("/events", response_model=EventsAck, responses={409: {
    "model": ErrorOut, "description": "The Idempotency-Key was already used for a different batch; nothing stored"}})
def ingest(batch: EventBatch, request: Request, response: Response, tenant: TenantDep, store: StoreDep,
           settings: SettingsDep,
           idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1,
                                                         max_length=MAX_IDEMPOTENCY_KEY)] = None) -> EventsAck:
    received = pd.Timestamp.now(tz="UTC")
    # The batch's content, not its bytes: the same events re-serialised by a retrying client are the same batch.
    key = None if idempotency_key is None else IdempotencyKey(
        idempotency_key, hashlib.sha256(batch.model_dump_json().encode()).hexdigest())
    if key is not None and (seen := store.replay(tenant.name, key)) is not None:
        return _replay(seen, response)
    if len(batch.events) > settings.max_events_per_batch:
        raise DataValidationError([Problem(_FILE, "events", f"at most {settings.max_events_per_batch} events per "
                                           f"batch, got {len(batch.events)}", "split the batch")])
    raw = pd.DataFrame([e.model_dump() for e in batch.events])
    raw[S.TIMESTAMP] = [_utc(pd.Timestamp(t)) for t in raw[S.TIMESTAMP]]
    events = normalize_events(raw)
    events[CAMPAIGN_ID] = raw[CAMPAIGN_ID].to_numpy(dtype=object)
    events[EVENT_ID] = raw[EVENT_ID].to_numpy(dtype=object)
    served = tenant.served
    is_ad = events[CAMPAIGN_ID].notna()
    problems = ad_event_problems(events[is_ad], served.ads, _FILE)
    # An ad impression of a product-less campaign (a headline, a lookalike) may name no product.
    canonical = events[~is_ad | events[S.PRODUCT_ID].notna()].drop(columns=[CAMPAIGN_ID, EVENT_ID])
    problems += validate_events(canonical, None, _FILE)
    pids = events[S.PRODUCT_ID]
    unknown = pids.notna() & (pids != "") & pids.map(served.art.product_position).isna()
    if unknown.any():
        problems.append(Problem(_FILE, S.PRODUCT_ID, f"{int(unknown.sum())} product_id(s) not in the catalogue of "
                                f"index {served.version}", ", ".join(pids[unknown].unique()[:5].tolist())))
    problems += event_time_problems(
        events[S.TIMESTAMP].reset_index(drop=True), _FILE, now=received,
        max_future_skew=pd.Timedelta(settings.max_future_skew), earliest=EARLIEST_EVENT,
        clock="the server's receive time", row="event",
        fix="Check the client's clock and time zone (a timestamp without a zone is UTC); the server's limit is "
            "its max_future_skew setting (RECSYS_MAX_FUTURE_SKEW).")
    if problems:
        raise DataValidationError(problems)
    ack = store.append(tenant.name, events, idempotency=key)
    if ack.replayed:  # the same key committed meanwhile (a concurrent retry)
        return _replay(ack, response)
    new = events[np.asarray(ack.stored, dtype=bool)]
    count_stored(tenant, store, new, ack)
    counter = request.app.state.metrics.events
    for etype, n in new[S.EVENT_TYPE].value_counts().items():
        counter.labels(tenant.name, str(etype)).inc(int(n))
    return _ack(ack)
