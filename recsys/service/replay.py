"""`AnswerReplay`: a pure ASGI middleware that answers a repeated GET from the bytes the application sent
for it before, while the cache the endpoint answered from still holds the very object those bytes were
rendered from.

A cached answer (`recsys.online.cache`: ranked answers, similar items, portraits) still costs a trip
through the framework: routing, parameter validation, dependencies, a threadpool hop, the response model
and its JSON. For the same request (path, query string and API key byte for byte) all of that gives the
same bytes again, so this layer keeps them: an endpoint *offers* its response (`offer`) when the body is a
pure function of a cached object (no ads, which are matched afresh on every request), and the next
identical request is replayed when, checked in this order, the service is ready, the key still belongs to
the same tenant, the tenant serves the same index version and its event feed is not due for a sync, and
the cache returns the identical object for the user's latest stored event (and, for ranked answers, the
counters' watermark: the cache's own validity rule, with its own hit counted). Anything else, including
a request with a body, goes through the application as usual and may offer a fresh response.

The user's latest-event probe runs on the event loop only for stores whose reads are local and never
wait on writers (SQLite in WAL mode); other stores (PostgreSQL, a network round trip) probe in the
threadpool. Replayed responses keep their route in `scope["route"]`, so the metrics middleware outside
counts them under the same route, and the answer log gets the same line the endpoint would write.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recsys.online.cache import SeqCache
from recsys.store.base import local_reads

__all__ = ["AnswerReplay", "offer", "Offer", "ReplayCache"]

#: Where an endpoint leaves its offer for this middleware (ASGI scope extensions are namespaced keys).
SCOPE_KEY = "recsys.replay"
_KB = 1024


@dataclass(frozen=True)
class Offer:
    """What the endpoint answered from: the served version; the cached object the body was rendered from
    and `current(seq)`, what that version's cache holds for the request now at the user's latest stored
    event `seq` (the cache's own validity rule; compared by identity on replay); the user whose latest
    event keys it (None: no user, seq 0); and the answer-log record it wrote (None when it wrote none)."""

    served: Any
    value: object
    current: Callable[[int], object]
    user_id: str | None
    log_record: dict[str, Any] | None = None


def offer(request: Request, made: Offer) -> None:
    """Let `AnswerReplay` keep this request's response for identical requests (see the module docstring)."""
    request.scope[SCOPE_KEY] = made


@dataclass(frozen=True)
class _Kept:
    tenant: str
    made: Offer
    route: Any
    start: Message
    body: bytes


class ReplayCache(SeqCache[tuple[str, bytes, bytes], _Kept]):
    """Raw request → kept response, weighed in KiB of body, least recently used first out."""

    def _weigh(self, value: _Kept) -> int:
        return 1 + len(value.body) // _KB


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def _has_body(scope: Scope) -> bool:
    length = _header(scope, b"content-length")
    chunked = _header(scope, b"transfer-encoding") is not None
    return chunked or (length is not None and length.strip() not in (b"", b"0"))


class AnswerReplay:
    """`state()` is the app's state (`ready`, `keyring`, `tenants`, `store`); `max_kib` bounds the kept
    bodies (0 turns replay off); `ttl_s` is the answer cache's (an entry never outlives its answer);
    `replayed(tenant)` counts each replayed response."""

    def __init__(self, app: ASGIApp, state: Callable[[], Any], *, max_kib: int, ttl_s: float,
                 answer_log: logging.Logger, replayed: Callable[[str], None]) -> None:
        self.app = app
        self._state = state
        self.kept = ReplayCache(max_kib, ttl_s)
        self._log = answer_log
        self._replayed = replayed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or not self.kept.enabled or _has_body(scope):
            await self.app(scope, receive, send)
            return
        raw = (scope["path"], scope["query_string"], _header(scope, b"x-api-key") or b"")
        kept = self.kept.get(raw, 0)
        if kept is not None and await self._still_valid(kept, raw[2]):
            scope["route"] = kept.route
            self._replayed(kept.tenant)
            if kept.made.log_record is not None and self._log.isEnabledFor(logging.INFO):
                self._log.info(json.dumps(kept.made.log_record))
            await send(kept.start)
            await send({"type": "http.response.body", "body": kept.body})
            return
        await self._through(scope, receive, send, raw)

    async def _through(self, scope: Scope, receive: Receive, send: Send, raw: tuple[str, bytes, bytes]) -> None:
        """The application's own answer, kept when its endpoint offered it and it is one 200 body."""
        sent: list[Message] = []

        async def keep(message: Message) -> None:
            sent.append(message)
            await send(message)

        await self.app(scope, receive, keep)
        made = scope.get(SCOPE_KEY)
        if (not isinstance(made, Offer) or len(sent) != 2 or sent[0].get("status") != 200
                or sent[1].get("more_body", False)):
            return
        state = self._state()
        tenant = next((name for name, t in state.tenants.items() if t.served is made.served), None)
        if tenant is not None:
            self.kept.put(raw, 0, _Kept(tenant, made, scope.get("route"), sent[0], bytes(sent[1].get("body", b""))))

    async def _still_valid(self, kept: _Kept, api_key: bytes) -> bool:
        state = self._state()
        if not getattr(state, "ready", False):
            return False
        ring = state.keyring
        if ring is not None:
            who = ring.lookup(api_key.decode("latin-1")) if api_key else None
            if who is None or who.tenant != kept.tenant:
                return False
        tenant = state.tenants.get(kept.tenant)
        made = kept.made
        if tenant is None or tenant.served is not made.served or made.served.feed.due():
            return False
        seq = 0
        if made.user_id is not None:
            store = state.store
            try:
                if local_reads(store):  # e.g. a SQLite WAL read: never waits on a writer
                    seq = store.user_last_seq(kept.tenant, made.user_id)
                else:
                    seq = await anyio.to_thread.run_sync(store.user_last_seq, kept.tenant, made.user_id)
            except Exception:  # each backend raises its own errors: the application's path reports them
                return False
        return made.current(seq) is made.value
