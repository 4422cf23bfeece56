"""`read_endpoint`: a read endpoint's body runs on the event loop or in the threadpool as
`app.state.inline_reads` says, with FastAPI still reading its signature (parameters, validation)."""

from __future__ import annotations

import functools
import threading
from pathlib import Path

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
def test_a_first_step_runs_in_the_threadpool_before_a_body_on_the_loop(inline: bool) -> None:
    """With the body on the loop, `first_in_thread` runs first, in another thread, with the same arguments;
    with the body in the threadpool it does not run (the body does that work itself)."""
    steps: list[tuple[str, int, int]] = []

    def first(request: Request, x: int = 1) -> None:
        steps.append(("first", threading.get_ident(), x))

    app = _app()

    @app.get("/two")
    @functools.partial(read_endpoint, first_in_thread=first)
    def two(request: Request, x: int = 1) -> int:
        steps.append(("body", threading.get_ident(), x))
        return threading.get_ident()

    app.state.inline_reads = inline
    with TestClient(app) as client:
        loop = client.get("/loop").json()
        assert client.get("/two", params={"x": 5}).json() == (loop if inline else steps[-1][1])
    if inline:
        assert [(s, x) for s, _, x in steps] == [("first", 5), ("body", 5)]
        assert steps[0][1] != loop and steps[1][1] == loop
    else:
        assert [(s, x) for s, _, x in steps] == [("body", 5)] and steps[0][1] != loop
