"""Service-side branches of the one exception tree (see `recsys.errors`), each with its HTTP status,
and the handlers that answer every error in one JSON shape, `ErrorOut` (`{error, detail, hint?, problems?}`):
`RecsysError`s, FastAPI's own request validation (422) and HTTP errors such as an unknown route (404).

    RecsysError
    ├── AuthenticationError   401  no or unknown X-API-Key
    ├── PermissionDeniedError 403  a valid key without the right (admin) for this endpoint
    ├── PayloadTooLargeError  413  request body over the limit
    └── NotReadyError         503  artifacts not loaded (yet)
    (ReloadRefusedError, 409, is an ArtifactError: see `recsys.service.tenants`.)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from recsys.errors import DataValidationError, RecsysError, UnknownItemError, UnknownUserError
from recsys.service.schemas import ErrorOut

__all__ = ["AuthenticationError", "PermissionDeniedError", "PayloadTooLargeError", "NotReadyError",
           "recsys_error_handler", "request_validation_handler", "http_error_handler", "internal_error_handler"]

log = logging.getLogger("recsys.service")


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


def _answer(body: ErrorOut, status: int, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=status, headers=headers)


async def recsys_error_handler(request: Request, exc: Exception) -> JSONResponse:
    status = exc.http_status if isinstance(exc, RecsysError) else 500
    hint = next((h for cls, h in _HINTS.items() if isinstance(exc, cls)), None)
    problems = [str(p) for p in exc.problems] if isinstance(exc, DataValidationError) else None
    headers = {"WWW-Authenticate": "ApiKey"} if isinstance(exc, AuthenticationError) else None
    return _answer(ErrorOut(error=type(exc).__name__, detail=str(exc), hint=hint, problems=problems), status, headers)


def _where(loc: tuple[object, ...]) -> str:
    return ".".join(str(part) for part in loc) or "request"


async def request_validation_handler(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own request validation (types, bounds, unknown fields, malformed JSON), in the same
    `ErrorOut` shape as every other error: one `problems` line per invalid input."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    problems = [f"{_where(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}" for e in errors]
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    detail = "invalid request: " + "; ".join(problems[:3]) + more
    return _answer(ErrorOut(error="RequestValidationError", detail=detail, problems=problems), 422)


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """HTTP-level errors outside the endpoints (no such route, method not allowed), as `ErrorOut`."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else str(exc)
    try:
        error = HTTPStatus(status).phrase.replace(" ", "")  # "NotFound", "MethodNotAllowed"
    except ValueError:
        error = "HTTPError"
    headers = exc.headers if isinstance(exc, HTTPException) else None
    return _answer(ErrorOut(error=error, detail=str(detail)), status, headers)



async def internal_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Anything no other handler knows: logged with its traceback, answered as a 500 `ErrorOut` that names
    the exception type but not its message (which may hold internal paths or data)."""
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path, exc_info=exc)
    return _answer(ErrorOut(error="InternalError", detail=f"the server failed on this request ({type(exc).__name__})",
                            hint="this is a bug in recsys, not in the request; the server log has the traceback"),
                   500)
