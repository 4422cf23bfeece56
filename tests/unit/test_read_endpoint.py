"""`read_endpoint`: a read endpoint's body runs on the event loop or in the threadpool as
`app.state.inline_reads` says, with FastAPI still reading its signature (parameters, validation)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from recsys.service.deps import read_endpoint
from recsys.store import SQLiteEventStore, local_reads


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/loop")
    async def loop_thread() -> int:
        return threading.get_ident()

    @app.get("/read")
    @read_endpoint
    def read(request: Request, x: int = 1) -> dict[str, int]:
        return {"thread": threading.get_ident(), "x": x}

    return app


@pytest.mark.parametrize("inline", [True, False])
def test_the_body_runs_where_the_app_says(inline: bool) -> None:
    app = _app()
    app.state.inline_reads = inline
    with TestClient(app) as client:
        loop = client.get("/loop").json()
        got = client.get("/read", params={"x": 3}).json()
        assert got["x"] == 3
        assert (got["thread"] == loop) is inline
        assert client.get("/read", params={"x": "three"}).status_code == 422  # the body's signature validates


def test_only_a_store_that_says_so_is_read_on_the_loop(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "ev.db")
    try:
        assert local_reads(store)
    finally:
        store.close()
    assert not local_reads(object())


@pytest.mark.parametrize("inline", [True, False])
def test_thread_work_runs_in_the_threadpool_before_a_body_on_the_loop(inline: bool) -> None:
    """With the body on the loop, `thread_work` is asked on the loop, with the same arguments, for the work
    to do first; that work runs in another thread; with the body in the threadpool nothing is asked (the
    body does that work itself)."""
    steps: list[tuple[str, int, int]] = []

    def work(request: Request, x: int = 1) -> functools.partial[None]:
        steps.append(("asked", threading.get_ident(), x))
        return functools.partial(lambda: steps.append(("work", threading.get_ident(), x)))

    app = _app()

    @app.get("/two")
    @functools.partial(read_endpoint, thread_work=work)
    def two(request: Request, x: int = 1) -> int:
        steps.append(("body", threading.get_ident(), x))
        return threading.get_ident()

    app.state.inline_reads = inline
    with TestClient(app) as client:
        loop = client.get("/loop").json()
        assert client.get("/two", params={"x": 5}).json() == (loop if inline else steps[-1][1])
    if inline:
        assert [(s, x) for s, _, x in steps] == [("asked", 5), ("work", 5), ("body", 5)]
        assert [t == loop for _, t, _ in steps] == [True, False, True]
    else:
        assert [(s, x) for s, _, x in steps] == [("body", 5)] and steps[0][1] != loop


def test_a_request_with_no_thread_work_stays_on_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    hand_offs: list[object] = []
    real = anyio.to_thread.run_sync

    async def counting(func: Callable[[], object], *args: object, **kwargs: Any) -> object:
        hand_offs.append(func)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    app = _app()

    @app.get("/maybe")
    @functools.partial(read_endpoint, thread_work=lambda request, x=1: None if x == 0 else (lambda: None))
    def maybe(request: Request, x: int = 1) -> int:
        return threading.get_ident()

    app.state.inline_reads = True
    with TestClient(app) as client:
        loop = client.get("/loop").json()
        assert client.get("/maybe", params={"x": 0}).json() == loop
        assert hand_offs == []
        assert client.get("/maybe", params={"x": 1}).json() == loop
        assert len(hand_offs) == 1
