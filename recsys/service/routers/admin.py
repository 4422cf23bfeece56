"""Admin: switch a tenant to the index version its `current` points to now (admin key required)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from recsys.service.deps import AdminDep, StoreDep, TenantDep
from recsys.service.schemas import ReloadOut, error_responses
from recsys.service.tenants import ReloadRefusedError

router = APIRouter(prefix="/v1/admin", tags=["admin"], responses=error_responses(401, 403, 409, 422, 503))


@router.post("/reload", response_model=ReloadOut)
def reload(request: Request, who: AdminDep, tenant: TenantDep, store: StoreDep) -> ReloadOut:
    """Loads, verifies (checksums) and smoke-tests the new version, then swaps atomically; requests in
    flight finish on the old one. A broken or mismatched index is refused (409), the old one keeps serving."""
    metrics = request.app.state.metrics
    try:
        old, new = tenant.reload(store)
    except ReloadRefusedError:
        metrics.reloads.labels(tenant.name, "refused").inc()
        raise
    metrics.reloads.labels(tenant.name, "ok" if old != new else "unchanged").inc()
    metrics.set_version(tenant.name, new, old)
    return ReloadOut(tenant=tenant.name, previous_version=old, version=new, changed=old != new)
