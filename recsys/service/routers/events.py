"""Event ingestion: validated as a whole, stored in one durable transaction, then applied to the live
counters. The answer comes only after the commit, so an acknowledged event survives a crash; a batch
with any bad row is refused entirely (422) and nothing is stored.

Event times are checked against the receive time of the request: an event dated more than
`max_future_skew` after it, or before `EARLIEST_EVENT`, is refused (see "Time bounds" in
`recsys.data.validation`), since profiles weigh events by their age as of the time of the question."""

from __future__ import annotations

import pandas as pd
from fastapi import APIRouter, Request

from recsys.data import schema as S
from recsys.data.dataset import normalize_events
from recsys.data.validation import EARLIEST_EVENT, event_time_problems, validate_events
from recsys.errors import DataValidationError, Problem
from recsys.service.ads import ad_event_problems
from recsys.service.deps import SettingsDep, StoreDep, TenantDep
from recsys.service.schemas import EventBatch, EventsAck, error_responses
from recsys.store import CAMPAIGN_ID

router = APIRouter(prefix="/v1", tags=["events"], responses=error_responses(401, 403, 413, 422, 503))
_FILE = "request body"


def _utc(ts: pd.Timestamp) -> pd.Timestamp:
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@router.post("/events", response_model=EventsAck)
def ingest(batch: EventBatch, request: Request, tenant: TenantDep, store: StoreDep, settings: SettingsDep) -> EventsAck:
    received = pd.Timestamp.now(tz="UTC")
    if len(batch.events) > settings.max_events_per_batch:
        raise DataValidationError([Problem(_FILE, "events", f"at most {settings.max_events_per_batch} events per "
                                           f"batch, got {len(batch.events)}", "split the batch")])
    raw = pd.DataFrame([e.model_dump() for e in batch.events])
    raw[S.TIMESTAMP] = [_utc(pd.Timestamp(t)) for t in raw[S.TIMESTAMP]]
    events = normalize_events(raw)
    events[CAMPAIGN_ID] = raw[CAMPAIGN_ID].to_numpy(dtype=object)
    served = tenant.served
    is_ad = events[CAMPAIGN_ID].notna()
    problems = ad_event_problems(events[is_ad], served.ads, _FILE)
    # An ad impression of a product-less campaign (a headline, a lookalike) may name no product.
    problems += validate_events(events[~is_ad | events[S.PRODUCT_ID].notna()].drop(columns=[CAMPAIGN_ID]), None, _FILE)
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
    ack = store.append(tenant.name, events)
    served.live.apply(events)
    if served.ads is not None and is_ad.any():
        served.ads.ledger.apply(events[is_ad])
    counter = request.app.state.metrics.events
    for etype, n in events[S.EVENT_TYPE].value_counts().items():
        counter.labels(tenant.name, str(etype)).inc(int(n))
    return EventsAck(accepted=ack.count, first_seq=ack.first_seq, last_seq=ack.last_seq)
