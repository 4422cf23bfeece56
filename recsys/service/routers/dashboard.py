"""The dashboard: its static page at /dashboard (HTML, JS and CSS from `recsys.service.dashboard`, under a
strict Content-Security-Policy) and the read-only views it needs beyond the `/v1` API:

- `GET /v1/dashboard/overview`: the served version's manifest summary, catalogue and event counts, and the
  newest evaluation report and audience summary found in the tenant's index folder;
- `GET /v1/dashboard/live`: events stored per minute over the last `minutes`, and the top trending items.

Both take the caller's key like every `/v1` endpoint and answer only for its tenant. The page itself
holds no data, so it needs no key: it asks for one when the API answers 401.
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Query, Response
from starlette.exceptions import HTTPException

from recsys.service.dashboard.overview import (
    event_types,
    events_per_minute,
    find_audiences,
    find_evaluation,
    manifest_summary,
    trending_items,
)
from recsys.service.deps import StoreDep, TenantDep
from recsys.service.schemas import LiveOut, OverviewOut, error_responses

__all__ = ["router", "CONTENT_SECURITY_POLICY"]

#: Only the page's own script, style sheet and API: no inline script or style, no other origin, no framing.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "Cache-Control": "no-cache"}
_ASSETS = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
           "app.css": "text/css; charset=utf-8"}

api = APIRouter(prefix="/v1/dashboard", tags=["dashboard"], responses=error_responses(401, 403, 422, 503))
#: The page and its files: not part of the API, so left out of the OpenAPI schema.
pages = APIRouter(include_in_schema=False)


def _asset(name: str) -> Response:
    media = _ASSETS.get(name)
    if media is None:
        raise HTTPException(404, f"the dashboard has no file {name!r}; open /dashboard")
    body = resources.files("recsys.service.dashboard").joinpath(name).read_bytes()
    return Response(body, media_type=media, headers=_HEADERS)


@pages.get("/dashboard")
async def dashboard() -> Response:
    return _asset("index.html")


@pages.get("/dashboard/{name}")
async def dashboard_file(name: str) -> Response:
    return _asset(name)


@api.get("/overview", response_model=OverviewOut)
def overview(tenant: TenantDep, store: StoreDep) -> OverviewOut:
    """The served index version (encoder, index type, measured recall, ranker choice and its validation
    numbers), catalogue and event counts, and the newest evaluation report and audience summary found in
    the tenant's index folder (null when there is none)."""
    served = tenant.served
    art = served.art
    return OverviewOut(
        tenant=tenant.name, index_version=served.version, manifest=manifest_summary(art.manifest),
        products=len(art.items), users_with_profile=len(art.user_ids),
        campaigns=len(served.ads.campaigns) if served.ads is not None else 0,
        events_stored=store.count(tenant.name),
        evaluation=find_evaluation(tenant.index_root, art.root), audiences=find_audiences(tenant.index_root, art.root))


@api.get("/live", response_model=LiveOut)
def live(tenant: TenantDep, store: StoreDep,
         minutes: Annotated[int, Query(ge=1, le=24 * 60, description="How far back to count events")] = 60,
         top: Annotated[int, Query(ge=1, le=100, description="How many trending items")] = 10) -> LiveOut:
    """Events stored per minute (by the time the store received them) over the last `minutes`, their
    types, and the top trending items by the live counters the ranker uses."""
    served = tenant.served
    now = pd.Timestamp.now(tz="UTC")
    since = now.floor("min") - pd.Timedelta(minutes=minutes - 1) - pd.Timedelta(microseconds=1)  # the store's `>`
    events = store.received_since(tenant.name, since)
    per_minute = events_per_minute(events, now, minutes)
    return LiveOut(tenant=tenant.name, index_version=served.version, now=now.to_pydatetime(), minutes=minutes,
                   per_minute=per_minute, total=sum(m.events for m in per_minute), by_type=event_types(events),
                   events_applied=served.live.events_applied, trending=trending_items(served, top))


#: What the app includes: the views and the page.
router = APIRouter()
router.include_router(api)
router.include_router(pages)
