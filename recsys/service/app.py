"""The app factory: `create_app(settings)` wires routers, error mapping (every error answer is an `ErrorOut`,
unexpected exceptions included), the body guard (size limit, non-finite numbers, invalid Unicode: see
`recsys.service.body`) and metrics; its lifespan loads keys, each tenant's blend configs, the event store
and every tenant's index once into `app.state`, and runs the thread that follows each tenant's `current`
pointer (`recsys.service.follow`).

`app_from_env` is the same app for `recsys serve --workers N`: each uvicorn worker process imports it by name
and builds its `Settings` from the `RECSYS_*` environment that `serve` set."""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from recsys import __version__
from recsys.artifacts import load_artifacts
from recsys.config.catalog import BlendCatalog
from recsys.errors import ConfigError, RecsysError
from recsys.index import set_search_threads
from recsys.online.cache import AnswerCache
from recsys.service.ads import AdsSource
from recsys.service.answers import answer_log
from recsys.service.balance import BOARD_ENV, Balance
from recsys.service.body import BodyGuard
from recsys.service.errors import (
    http_error_handler,
    internal_error_handler,
    recsys_error_handler,
    request_validation_handler,
)
from recsys.service.follow import IndexFollower
from recsys.service.keys import KeyRing
from recsys.service.metrics import Metrics, MetricsMiddleware
from recsys.service.replay import AnswerReplay
from recsys.service.routers import admin, dashboard, events, health, recommend, users
from recsys.service.settings import OPEN_MODE_WARNING, Settings, is_loopback
from recsys.service.tenants import Tenant, discover_tenants, load_served
from recsys.store import EventStore, local_reads, open_event_store

__all__ = ["create_app", "app_from_env", "check_startup", "OPEN_MODE_WARNING"]

log = logging.getLogger("recsys.service")


def _prepare(settings: Settings) -> tuple[KeyRing | None, dict[str, Path], dict[str, BlendCatalog]]:
    """Keys, tenants and their blend configs, refusing an open server off loopback."""
    keyring = KeyRing.load(settings.keys) if settings.keys is not None else None
    if keyring is None and not is_loopback(settings.host):
        raise ConfigError(f"refusing to serve on {settings.host} without --keys: an open server may only "
                          "listen on loopback (127.0.0.1); create keys with `recsys keys create`")
    roots = discover_tenants(settings.index, keyring.tenants if keyring else None)
    return keyring, roots, BlendCatalog.for_tenants(settings.config, roots)


def check_startup(settings: Settings) -> None:
    """What `recsys serve --workers N` checks once before starting its workers, so a bad keys file, config,
    campaigns path, event store or index exits with its own code and message instead of N workers failing
    alike: everything `_start` reads, every tenant's index loaded (so verified) and let go again, without
    loading the encoders (each worker loads its own)."""
    _, roots, _ = _prepare(settings)
    for name, root in roots.items():
        AdsSource.for_tenant(settings.campaigns, name, relevance_floor=settings.ads_relevance_floor,
                             min_percentile=settings.ads_min_percentile)
        load_artifacts(root, mmap=True)
    open_event_store(settings.events_path).close()


def _start(app: FastAPI, settings: Settings, store: EventStore | None) -> None:
    set_search_threads(settings.search_threads)
    keyring, roots, catalogs = _prepare(settings)
    store = store or open_event_store(settings.events_path)
    tenants = {}
    for name, root in roots.items():
        ads = AdsSource.for_tenant(settings.campaigns, name, relevance_floor=settings.ads_relevance_floor,
                                   min_percentile=settings.ads_min_percentile)
        served = load_served(root, name, store, ads=ads, sync_interval=settings.sync_interval,
                             micro_batch_ms=settings.micro_batch_ms, query_cache_texts=settings.query_cache_texts,
                             answer_cache=AnswerCache(settings.answer_cache_size, settings.answer_cache_ttl,
                                                      settings.answer_cache_lag))
        tenants[name] = Tenant(name, root, served, ads)
        app.state.metrics.set_version(name, served.version)
        log.info("tenant %s: serving index %s (%d items)", name, served.version, len(served.art.items))
    if keyring is None:
        log.warning(OPEN_MODE_WARNING)
    app.state.keyring, app.state.catalogs, app.state.store, app.state.tenants = keyring, catalogs, store, tenants
    app.state.inline_reads = local_reads(store) if settings.inline_reads is None else settings.inline_reads
    app.state.ready = True


def _follower(app: FastAPI, settings: Settings) -> IndexFollower | None:
    """Start polling every tenant's `current` pointer (None when `reload_poll_interval` is 0)."""
    if settings.reload_poll_interval <= 0:
        return None
    metrics = app.state.metrics

    def switched(tenant: str, old: str, new: str) -> None:
        metrics.reloads.labels(tenant, "ok").inc()
        metrics.set_version(tenant, new, old)
        log.info("tenant %s: switched from index %s to %s (its current pointer moved)", tenant, old, new)

    return IndexFollower(app.state.tenants, app.state.store, settings.reload_poll_interval, on_switch=switched,
                         on_refused=lambda tenant: metrics.reloads.labels(tenant, "refused").inc()).start()


def create_app(settings: Settings, *, store: EventStore | None = None) -> FastAPI:
    """`store` overrides the SQLite store named by the settings (tests, another engine)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        await anyio.to_thread.run_sync(_start, app, settings, store)
        # Everything loaded so far lives as long as the version: keep it out of the cyclic collector's
        # passes, so a full collection walks what requests allocate, not the catalogue's objects.
        gc.collect()
        gc.freeze()
        follower = _follower(app, settings)
        try:
            yield
        finally:
            app.state.ready = False
            if follower is not None:
                follower.stop()
            app.state.store.close()

    app = FastAPI(title="recsys", version=__version__, lifespan=lifespan,
                  description="Embedding-based recommendations with real-time events. Send `X-API-Key`.")
    app.state.settings, app.state.ready, app.state.metrics = settings, False, Metrics()
    app.state.metrics.watch_caches(lambda: getattr(app.state, "tenants", {}))
    app.add_exception_handler(RecsysError, recsys_error_handler)
    app.add_exception_handler(RequestValidationError, request_validation_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    app.add_exception_handler(Exception, internal_error_handler)
    for router in (health.router, recommend.router, events.router, users.router, admin.router, dashboard.router):
        app.include_router(router)
    app.add_middleware(BodyGuard, max_body_bytes=settings.max_body_bytes)
    replay_kib = settings.answer_replay_mb * 1024 if settings.answer_cache_size and settings.answer_cache_ttl else 0
    app.add_middleware(AnswerReplay, state=lambda: app.state, max_kib=replay_kib, ttl_s=settings.answer_cache_ttl,
                       answer_log=answer_log, replayed=lambda tenant: app.state.metrics.replayed.labels(tenant).inc())
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)  # outermost: counts the guard's refusals
    return app


def supervisor_pid() -> int:
    """The pid of the process that started this one: the `multiprocessing` parent recorded at spawn (a worker
    that starts slowly may already have been handed to init when it asks), else the current parent."""
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None and parent.pid is not None else os.getppid()


def stop_with_supervisor(poll_s: float = 1.0, *, parent: int | None = None,
                         stop: Callable[[], None] | None = None) -> threading.Thread:
    """Stop this worker (`stop`, default SIGTERM to itself: uvicorn's graceful shutdown) once its supervisor
    (`parent`, default `supervisor_pid()`) is no longer its parent. A supervisor killed with -9 cannot stop
    its workers, and they would go on serving its port and holding their memory with nobody left to stop
    or restart them."""
    watched = supervisor_pid() if parent is None else parent

    def watch() -> None:
        while os.getppid() == watched:
            time.sleep(poll_s)
        log.warning("the supervisor (pid %d) is gone: worker %d stops", watched, os.getpid())
        if stop is None:
            os.kill(os.getpid(), signal.SIGTERM)
        else:
            stop()

    thread = threading.Thread(target=watch, name="recsys-supervisor-watch", daemon=True)
    thread.start()
    return thread


def app_from_env() -> FastAPI:
    """The app for one worker of `recsys serve --workers N` (a uvicorn factory): `Settings` from `RECSYS_*`,
    and the log level `serve` was given from `RECSYS_LOG_LEVEL` (a worker is a fresh interpreter). The
    worker stops when its supervisor does (`stop_with_supervisor`), and balances its connections with the
    other workers through the supervisor's board (`recsys.service.balance`)."""
    level = os.environ.get("RECSYS_LOG_LEVEL")
    if level:
        logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop_with_supervisor()
    app = create_app(Settings())  # `index` comes from RECSYS_INDEX
    board = os.environ.get(BOARD_ENV)
    if board:  # outermost: it may close the connection after any response, the guard's refusals included
        app.add_middleware(Balance, board_path=board, on_shed=app.state.metrics.shed.inc)
    return app
