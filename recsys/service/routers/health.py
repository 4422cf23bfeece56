"""Liveness, readiness and Prometheus metrics (no key needed: they reveal no tenant data)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Indexes are loaded and requests can be served (503 otherwise)."""
    if not getattr(request.app.state, "ready", False):
        return JSONResponse({"ready": False}, status_code=503)
    return JSONResponse({"ready": True, "tenants": len(request.app.state.tenants)})


@router.get("/metrics")
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
