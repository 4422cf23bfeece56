"""`read_endpoint`: a read endpoint's body runs on the event loop or in the threadpool as
`app.state.inline_reads` says, with FastAPI still reading its signature (parameters, validation)."""

from __future__ import annotations

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
