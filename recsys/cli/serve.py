"""`recsys serve` (the HTTP service under uvicorn) and `recsys keys create` (API keys)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from recsys.cli.render import err
from recsys.errors import ArtifactError, ConfigError, RecsysError

if TYPE_CHECKING:
    from recsys.service.settings import Settings

__all__ = ["serve", "keys_app", "StartupGuard"]

Message = MutableMapping[str, Any]
ASGIApp = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                   Awaitable[None]]

class StartupGuard:
    """An ASGI wrapper that keeps the `RecsysError` the app's start-up (its lifespan: keys, configs, every
    tenant's index, verified) raised, so `serve` can exit with that error's code and one-line message.

    Left alone, Starlette logs the traceback and uvicorn exits 3 whatever went wrong. Here a `RecsysError`
    is reported to uvicorn as a failed start-up without the traceback, and `error` holds it; any other
    exception keeps uvicorn's usual report."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.error: RecsysError | None = None

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold_failure(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                held.append(message)  # sent below, once we know which exception it reports
            else:
                await send(message)

        try:
            await self.app(scope, receive, hold_failure)
        except RecsysError as exc:
            if not held:
                raise
            self.error = exc
            await send({"type": "lifespan.startup.failed", "message": ""})
            return
        except BaseException:
            for message in held:
                await send(message)
            raise
        for message in held:
            await send(message)


keys_app = typer.Typer(add_completion=False, no_args_is_help=True, help="API keys of the HTTP service.")


def serve(
    index: Annotated[Path, typer.Option("--index", help="An index, or a folder of per-tenant indexes <tenant>/.")],
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (open servers: loopback only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
    events_db: Annotated[str | None, typer.Option(
        "--events-db", help="Events store: a SQLite file [INDEX/events.db] or postgresql://USER@HOST/DB.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Named blend configs and experiments.")] = None,
    keys: Annotated[Path | None, typer.Option("--keys", help="API keys file; without it the server runs open.")] = None,
    max_k: Annotated[int, typer.Option("--max-k", min=1)] = 100,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
    quiet_answers: Annotated[bool, typer.Option("--no-answer-log", help="Do not log one line per answer.")] = False,
    campaigns: Annotated[Path | None, typer.Option("--campaigns", help="Ad campaigns file, or a folder of "
                                                      "<tenant>.parquet|.jsonl: ads beside results.")] = None,
    ads_per_answer: Annotated[int, typer.Option("--ads-per-answer", min=0, max=20)] = 2,
    metrics_key: Annotated[str | None, typer.Option(
        "--metrics-key", envvar="RECSYS_METRICS_KEY", show_envvar=True,
        help="Scrape-only secret for /metrics (≥ 16 characters); with --keys, /metrics otherwise needs an "
             "admin key.")] = None,
    max_future_skew: Annotated[float, typer.Option(
        "--max-future-skew", min=0.0, help="Seconds an event may be dated after the server's clock.")] = 86_400.0,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, max=256, help="Worker processes on this port; they share counters, ad spend and "
                                          "reloads through the events store and the index folder.")] = 1,
) -> None:
    """Serve recommendations over HTTP (OpenAPI docs at /docs)."""
    import uvicorn

    from recsys.service.settings import OPEN_MODE_WARNING, Settings, is_loopback

    if keys is None and not is_loopback(host):
        raise ConfigError(f"refusing to listen on {host} without --keys: an open server is loopback only; "
                          "create keys with `recsys keys create --keys FILE --tenant NAME`")
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings(index=index, events_db=events_db, config=config, keys=keys, host=host, port=port,
                            max_k=max_k, log_answers=not quiet_answers, campaigns=campaigns,
                            ads_per_answer=ads_per_answer, metrics_key=metrics_key,
                            max_future_skew=timedelta(seconds=max_future_skew))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid server settings: {problems}") from exc
    if keys is None:
        err.print(f"[yellow]warning:[/] {OPEN_MODE_WARNING}")
    err.print(f"serving {index} on http://{host}:{port} (docs at /docs), events in {settings.events_label}")
    if workers > 1:
        _serve_workers(settings, workers, log_level)
        return
    from recsys.service.app import create_app  # here: a supervisor of workers never builds the app

    guard = StartupGuard(create_app(settings))
    server = uvicorn.Server(uvicorn.Config(guard, host=host, port=port, log_level=log_level, access_log=False,
                                           timeout_graceful_shutdown=10))
    try:
        server.run()
    except SystemExit:  # uvicorn's exit on a failed start-up: report the error that caused it instead
        if guard.error is not None:
            raise guard.error from None
        raise
    if guard.error is not None:
        raise guard.error


def _serve_workers(settings: Settings, workers: int, log_level: str) -> None:
    """`workers` uvicorn processes behind one socket, each building the app from the `RECSYS_*` environment
    (`recsys.service.app:app_from_env`; uvicorn starts workers from an import string, not an app object).
    They even out their connections through a board file in a temporary folder (`recsys.service.balance`).

    Start-up errors keep their exit codes: everything a worker would refuse (keys, configs, the event store,
    every index, verified) is checked here first (`check_startup`, in a child process: see `_check_apart`),
    so a broken index exits 4 before any worker starts. A worker that fails its start-up anyway stops the
    others (uvicorn's supervisor), and `serve` then exits 4 pointing at the log, which holds that worker's
    error."""
    import os
    import tempfile

    from uvicorn import Config
    from uvicorn.main import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    from recsys.service.balance import BOARD_ENV, CountedHttpToolsProtocol, create_board

    _check_apart(settings)
    os.environ.update(settings.environ())
    os.environ["RECSYS_LOG_LEVEL"] = log_level
    with tempfile.TemporaryDirectory(prefix="recsys-serve-") as tmp:
        board = Path(tmp) / "balance"
        create_board(board, 2 * workers)
        os.environ[BOARD_ENV] = str(board)
        config = Config("recsys.service.app:app_from_env", factory=True, host=settings.host, port=settings.port,
                        workers=workers, log_level=log_level, access_log=False, timeout_graceful_shutdown=10,
                        http=CountedHttpToolsProtocol)
        supervisor = Multiprocess(config, sockets=[config.bind_socket()])
        supervisor.run()
    failed = [p.pid for p in supervisor.processes if p.exitcode == STARTUP_FAILURE]
    if failed:
        raise ArtifactError(f"worker process(es) {failed} failed to start; their error is in the log above")


def _check_apart(settings: Settings) -> None:
    """Run `check_startup` in a spawned child process and raise its `RecsysError` here, same class and
    message. Loading every tenant's index leaves this process's heap grown by about the size of the
    loaded arrays even after they are freed (the allocator keeps the pages), and this process only
    supervises the workers for the rest of its life; the child returns all of it when it exits."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            failure = pool.submit(_checked, settings).result()
        except BrokenProcessPool as exc:
            raise ArtifactError(f"the start-up check of {settings.index} stopped without an answer ({exc}); "
                                "see the log above") from None
    if failure is not None:
        raise _rebuilt(*failure)


def _rebuilt(kind: type[RecsysError], message: str) -> RecsysError:
    """An error of class `kind` with `message` as its text, whatever arguments that class's `__init__` takes."""
    error = kind.__new__(kind)
    Exception.__init__(error, message)
    return error


def _checked(settings: Settings) -> tuple[type[RecsysError], str] | None:
    """`check_startup` in the child process of `_check_apart`: its `RecsysError` as (class, message)."""
    from recsys.service.app import check_startup

    try:
        check_startup(settings)
    except RecsysError as exc:
        return type(exc), str(exc)
    return None


@keys_app.command("create")
def create(
    keys: Annotated[Path, typer.Option("--keys", help="Keys file (created if missing).")],
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant whose index and events the key may use.")],
    admin: Annotated[bool, typer.Option("--admin", help="May call admin endpoints (reload).")] = False,
) -> None:
    """Create an API key: prints it once; only its sha256 is stored in the keys file."""
    from recsys.service.keys import create_key

    key, key_id = create_key(keys, tenant, admin=admin)
    err.print(f"created {'admin ' if admin else ''}key {key_id} for tenant {tenant!r} in {keys}; "
              "it is shown once, store it now:")
    print(key)
