"""Request dependencies: who is calling (API key → tenant), which tenant state they may touch, and
request limits. All are `async def`: they do no blocking work, so they need no threadpool hop, except the
tenant's event sync when it is due (at most once per `sync_interval`, see `recsys.service.feed`), which
runs in the threadpool."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, ParamSpec, TypeVar

import anyio
import pandas as pd
from fastapi import Depends, Header, Request

from recsys.config.catalog import BlendCatalog
from recsys.errors import ConfigError
from recsys.service.errors import AuthenticationError, NotReadyError, PermissionDeniedError
from recsys.service.keys import KeyRing, Principal
from recsys.service.settings import Settings
from recsys.service.tenants import Tenant
from recsys.store import AppendResult, EventStore

__all__ = ["CallerDep", "AdminDep", "TenantDep", "StoreDep", "CatalogDep", "SettingsDep", "check_k", "sync_events",
           "count_stored", "read_endpoint"]

log = logging.getLogger("recsys.service")


def _state(request: Request, name: str):
    if not getattr(request.app.state, "ready", False):
        raise NotReadyError("the service is still loading its indexes; retry shortly (GET /readyz)")
    return getattr(request.app.state, name)


async def caller(request: Request,
                 x_api_key: Annotated[str | None, Header(alias="X-API-Key")] = None) -> Principal:
    ring: KeyRing | None = _state(request, "keyring")
    if ring is None:  # open mode: loopback only, one tenant (enforced at start-up)
        return Principal(next(iter(request.app.state.tenants)), True, "open")
    if not x_api_key:
        raise AuthenticationError("missing API key: send it in the X-API-Key header")
    who = ring.lookup(x_api_key)
    if who is None:
        raise AuthenticationError("unknown API key")
    return who


CallerDep = Annotated[Principal, Depends(caller)]


async def admin(who: CallerDep) -> Principal:
    if not who.admin:
        raise PermissionDeniedError(f"key {who.key_id} of tenant {who.tenant!r} is not an admin key")
    return who


AdminDep = Annotated[Principal, Depends(admin)]


async def tenant(request: Request, who: CallerDep) -> Tenant:
    tenants: dict[str, Tenant] = _state(request, "tenants")
    found = tenants.get(who.tenant)
    if found is None:
        raise PermissionDeniedError(f"tenant {who.tenant!r} has no index on this server")
    if found.served.feed.due():
        await anyio.to_thread.run_sync(sync_events, found, _state(request, "store"))
    return found


def sync_events(tenant: Tenant, store: EventStore, *, through: int | None = None) -> None:
    """Bring the tenant's served version up to the store (`EventFeed.sync`). A failing store must not fail
    the request: its answer comes from counters a little older, and the next sync catches up."""
    try:
        tenant.served.feed.sync(store, wait=through is not None, through=through)
    except Exception:  # the store's own errors differ by backend; the traceback goes to the log
        log.exception("tenant %s: syncing events from the store failed; answering from the counters as they are",
                      tenant.name)


def count_stored(tenant: Tenant, store: EventStore, stored: pd.DataFrame, result: AppendResult) -> None:
    """Count a batch this process stored (`EventFeed.count_stored`); failing like `sync_events`, quietly."""
    try:
        tenant.served.feed.count_stored(store, stored, result)
    except Exception:  # as in sync_events: the store's errors differ by backend; the traceback goes to the log
        log.exception("tenant %s: counting stored events failed; the next sync catches up", tenant.name)


TenantDep = Annotated[Tenant, Depends(tenant)]


async def _store(request: Request) -> EventStore:
    return _state(request, "store")


async def _catalog(request: Request, who: CallerDep) -> BlendCatalog:
    """The caller's tenant's named configs: one tenant never resolves (or sees in errors) another's names."""
    catalogs: dict[str, BlendCatalog] = _state(request, "catalogs")
    return catalogs.get(who.tenant) or BlendCatalog()


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


StoreDep = Annotated[EventStore, Depends(_store)]
CatalogDep = Annotated[BlendCatalog, Depends(_catalog)]
SettingsDep = Annotated[Settings, Depends(_settings)]


P = ParamSpec("P")
R = TypeVar("R")


def read_endpoint(body: Callable[P, R], *, thread_work: Callable[P, Callable[[], object] | None] | None = None
                  ) -> Callable[P, Coroutine[Any, Any, R]]:
    """A read endpoint from its plain body (ranking: CPU-bound, no waiting on anything but local reads):
    run on the event loop when the service ranks inline (`Settings.inline_reads`, kept in
    `app.state.inline_reads`), else in the threadpool as FastAPI runs a plain `def` endpoint. FastAPI
    reads the body's signature (parameters, dependencies, validation); the body must take
    `request: Request`.

    `thread_work` (same arguments, called on the loop) returns a step that may wait or hold the CPU without
    the interpreter (encoding texts the query cache does not hold), or None when there is none: when the
    body runs on the loop, that step runs before it in the threadpool; otherwise the body alone runs there
    and does that work itself. A request with nothing to do in a thread never leaves the loop: under load,
    each hand-off and return waits for the loop's turn behind every other request in progress."""

    @functools.wraps(body)
    async def endpoint(*args: P.args, **kwargs: P.kwargs) -> R:
        request = kwargs["request"]
        if not isinstance(request, Request):
            raise TypeError(f"read endpoint {body.__name__} must take `request: Request`")
        if getattr(request.app.state, "inline_reads", False):
            work = None if thread_work is None else thread_work(*args, **kwargs)
            if work is not None:
                await anyio.to_thread.run_sync(work)
            return body(*args, **kwargs)
        return await anyio.to_thread.run_sync(functools.partial(body, *args, **kwargs))

    return endpoint


def check_k(k: int, settings: Settings) -> int:
    if k > settings.max_k:
        raise ConfigError(f"k={k} is over this server's limit of {settings.max_k}; ask for fewer results")
    return k
