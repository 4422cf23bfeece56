"""The user's interest portrait."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from recsys.service.answers import portrait_key, user_portrait
from recsys.service.deps import CatalogDep, SettingsDep, StoreDep, TenantDep, read_endpoint
from recsys.service.replay import Offer, offer
from recsys.service.schemas import ProfileOut, error_responses

router = APIRouter(prefix="/v1", tags=["users"], responses=error_responses(401, 403, 422, 503))


@router.get("/users/{user_id}/profile", response_model=ProfileOut, responses=error_responses(404))
@read_endpoint
def profile(request: Request, user_id: Annotated[str, Path(min_length=1, max_length=256)], tenant: TenantDep,
            store: StoreDep, catalog: CatalogDep, settings: SettingsDep,
            top: Annotated[int, Query(ge=1, le=100)] = 10) -> ProfileOut:
    """Interest clusters, categories, terms, past items and searches that drive the user's profile vector,
    with weights; includes events ingested since the index was built."""
    served = tenant.served
    resolved = catalog.resolve(served.art.config)
    out = user_portrait(served, tenant.name, store, user_id, resolved, max_user_events=settings.max_user_events,
                        top=top)
    key = portrait_key(resolved, user_id, top)
    offer(request, Offer(served, out, lambda seq: served.portraits.get(key, seq), user_id))
    return out
