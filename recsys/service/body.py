"""`BodyGuard`: a pure ASGI middleware that reads a request's body before the framework does and refuses,
in the one error shape (`ErrorOut`), what must never reach an endpoint:

- a body over the size limit (413, before reading it when `Content-Length` says so, else as soon as the
  chunks read pass it), instead of the framework's plain-text 413;
- a JSON body that is not UTF-8 (422, where the framework would answer a bare 400);
- JSON with non-finite numbers (`NaN`, `Infinity`, `-Infinity`, which Python's `json` accepts but JSON does
  not) and strings holding lone UTF-16 surrogates (`"\\ud800"`, which cannot be stored or encoded as
  UTF-8), both 422, naming where in the body the bad value is.

Malformed JSON passes through: the framework's own validation answers it (422, also as `ErrorOut`).
The body read here is replayed to the application unchanged, so endpoints parse it as usual.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recsys.service.schemas import ErrorOut

__all__ = ["BodyGuard", "find_invalid_json_value"]

_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


class _NonFinite(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NonFinite(name)


def _walk(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            yield path, "a string with a lone UTF-16 surrogate (invalid Unicode)"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(key, f"{path}.<key>")
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}.{i}")


def find_invalid_json_value(body: bytes) -> str | None:
    """Why `body` (JSON) must be refused, or None when it is acceptable or not JSON at all.

    Pure: the caller decides the status. Non-parseable bodies return None (the framework reports them).
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"the body is not valid UTF-8 (byte {exc.start}); JSON text must be UTF-8"
    try:
        parsed = json.loads(text, parse_constant=_reject_constant)
    except _NonFinite as exc:
        return f"the body holds the non-finite number {exc}; JSON numbers must be finite"
    except (ValueError, RecursionError):
        return None
    bad = next(_walk(parsed, "body"), None)
    return None if bad is None else f"{bad[0]} is {bad[1]}"


def _is_json(scope: Scope) -> bool:
    for key, value in scope.get("headers", ()):
        if key == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return True  # the framework parses a body without a content type as JSON too


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, status: int, error: str, detail: str, hint: str) -> None:
    body = ErrorOut(error=error, detail=detail, hint=hint).model_dump_json(exclude_none=True).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class BodyGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def _too_large(self, send: Send, size: str) -> None:
        await _refuse(send, 413, "PayloadTooLargeError",
                      f"request body of {size} bytes is over the limit of {self.max_body_bytes:,} bytes",
                      "send fewer events per batch (or shorter texts), or raise --max-body-bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method", "GET") in _NO_BODY:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._too_large(send, f"{declared:,}")
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(send, f"more than {self.max_body_bytes:,}")
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        if body and _is_json(scope):
            why = find_invalid_json_value(body)
            if why is not None:
                await _refuse(send, 422, "RequestValidationError", f"invalid request: {why}",
                              "send finite numbers and valid Unicode text (UTF-8; paired surrogates only)")
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the client's disconnect, as the server would

        await self.app(scope, replay, send)
