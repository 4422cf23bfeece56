"""Liveness and readiness (no key: they reveal nothing about tenants) and Prometheus metrics, which name
tenants, index versions and event counts and so need the metrics key or an admin key when the server has
API keys (see `Settings.metrics_key`)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from recsys.service.errors import AuthenticationError, NotReadyError, PermissionDeniedError
from recsys.service.schemas import HealthOut, ReadyOut, error_responses

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut)
async def healthz() -> HealthOut:
    """The process answers."""
    return HealthOut(status="ok")


@router.get("/readyz", response_model=ReadyOut, response_model_exclude_none=True,
            responses={503: {"model": ReadyOut, "description": "Not ready: indexes are still loading"}})
async def readyz(request: Request, response: Response) -> ReadyOut:
    """Indexes are loaded and requests can be served (503 otherwise)."""
    if not getattr(request.app.state, "ready", False):
        response.status_code = 503
        return ReadyOut(ready=False)
    return ReadyOut(ready=True, tenants=len(request.app.state.tenants))


def _may_scrape(request: Request, x_api_key: str | None, authorization: str | None) -> None:
    settings = request.app.state.settings
    bearer = authorization[7:].strip() if authorization and authorization[:7].lower() == "bearer " else None
    sent = [k for k in (x_api_key, bearer) if k]
    if settings.metrics_key and any(hmac.compare_digest(k.encode(), settings.metrics_key.encode()) for k in sent):
        return
    if settings.keys is None and not settings.metrics_key:
        return  # open server: loopback only, one tenant
    if not sent:
        raise AuthenticationError("/metrics needs the metrics key or an admin key (X-API-Key or "
                                  "Authorization: Bearer)")
    ring = getattr(request.app.state, "keyring", None)
    if ring is None and settings.keys is not None:
        raise NotReadyError("the service is still loading its keys and indexes; retry shortly (GET /readyz)")
    who = None if ring is None else next((p for p in map(ring.lookup, sent) if p is not None), None)
    if who is None:
        raise AuthenticationError("unknown key for /metrics")
    if not who.admin:
        raise PermissionDeniedError(f"key {who.key_id} is not an admin key; /metrics needs the metrics key or an "
                                    "admin key")


@router.get("/metrics", response_class=PlainTextResponse,
            responses=error_responses(401, 403, 422, 503))
def metrics(request: Request,
            x_api_key: Annotated[str | None, Header(alias="X-API-Key")] = None,
            authorization: Annotated[str | None, Header()] = None) -> Response:
    """Prometheus text format (the metrics key or an admin key when the server has API keys)."""
    _may_scrape(request, x_api_key, authorization)
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
