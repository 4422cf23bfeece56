"""Service-side branches of the one exception tree (see `recsys.errors`), each with its HTTP status,
and the single handler that maps every `RecsysError` to a JSON error body.

    RecsysError
    ├── AuthenticationError   401  no or unknown X-API-Key
    ├── PermissionDeniedError 403  a valid key without the right (admin) for this endpoint
    ├── PayloadTooLargeError  413  request body over the limit
    └── NotReadyError         503  artifacts not loaded (yet)
    (ReloadRefusedError, 409, is an ArtifactError: see `recsys.service.tenants`.)
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from recsys.errors import DataValidationError, RecsysError, UnknownItemError, UnknownUserError

__all__ = ["AuthenticationError", "PermissionDeniedError", "PayloadTooLargeError", "NotReadyError",
           "recsys_error_handler"]


class AuthenticationError(RecsysError):
    http_status = 401


class PermissionDeniedError(RecsysError):
    http_status = 403


class PayloadTooLargeError(RecsysError):
    http_status = 413


class NotReadyError(RecsysError):
    http_status = 503


_HINTS: dict[type[RecsysError], str] = {
    UnknownUserError: "for a new user, POST /v1/recommendations with {\"texts\": [...]} (cold start) or "
                      "{\"user_id\": ...} for the popular fallback; or POST /v1/events first",
    UnknownItemError: "use a product_id from the catalogue of the index this tenant serves",
    AuthenticationError: "send a key from `recsys keys create` in the X-API-Key header",
    PermissionDeniedError: "this endpoint needs an admin key (`recsys keys create --admin`)",
}


async def recsys_error_handler(request: Request, exc: Exception) -> JSONResponse:
    status = exc.http_status if isinstance(exc, RecsysError) else 500
    body: dict[str, object] = {"error": type(exc).__name__, "detail": str(exc)}
    for cls, hint in _HINTS.items():
        if isinstance(exc, cls):
            body["hint"] = hint
            break
    if isinstance(exc, DataValidationError):
        body["problems"] = [str(p) for p in exc.problems]
    headers = {"WWW-Authenticate": "ApiKey"} if isinstance(exc, AuthenticationError) else None
    return JSONResponse(body, status_code=status, headers=headers)
