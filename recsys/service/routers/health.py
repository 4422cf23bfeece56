"""Liveness, readiness and Prometheus metrics (no key needed: they reveal no tenant data)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from recsys.service.schemas import HealthOut, ReadyOut

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


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(request: Request) -> Response:
    """Prometheus text format."""
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
