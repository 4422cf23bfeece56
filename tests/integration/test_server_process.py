"""A real server process (uvicorn on a free loopback port): the HTTP contract, durability across
SIGKILL during ingestion, the open-mode guard, and cold start with the real bundled model (slow)."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from recsys.service.keys import create_key

TS = "2024-03-01T00:00:00Z"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(index: Path, tmp: Path, *extra: str, timeout: float = 90.0,
           events_db: str | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start `recsys serve` (events in `events_db`, default a SQLite file in `tmp`), wait until /healthz
    answers, always kill it afterwards."""
    port = free_port()
    log = (tmp / f"serve-{port}.log").open("w")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "recsys.cli.main", "serve", "--index", str(index),
                             "--port", str(port), "--events-db", events_db or str(tmp / "ev.db"), *extra],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"server exited {proc.returncode}: {(tmp / f'serve-{port}.log').read_text()}")
            try:
                if httpx.get(base + "/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("server did not become healthy in time")
            time.sleep(0.1)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        log.close()


def test_real_server_enforces_keys_and_reflects_events(tiny_index: Path, tmp_path: Path):
    keys = tmp_path / "keys.json"
    key, _ = create_key(keys, "default")
    admin, _ = create_key(keys, "default", admin=True)
    with server(tiny_index, tmp_path, "--keys", str(keys)) as (base, _):
        h = {"X-API-Key": key}
        with httpx.Client(base_url=base, timeout=10.0) as c:
            assert c.get("/v1/users/u_coffee/recommendations").status_code == 401
            assert c.get("/v1/users/u_coffee/recommendations", headers={"X-API-Key": "rk_nope"}).status_code == 401
            assert c.post("/v1/admin/reload", headers=h).status_code == 403
            r = c.get("/v1/users/u_coffee/recommendations?k=3", headers=h)
            assert r.status_code == 200 and r.json()["results"][0]["product_id"] == "c3"
            assert c.get("/v1/users/ghost/recommendations", headers=h).status_code == 404
            assert c.post("/v1/events", json={"events": "not a list"}, headers=h).status_code == 422
            ev = {"user_id": "u_coffee", "product_id": "c3", "event_type": "purchase", "timestamp": TS}
            assert c.post("/v1/events", json={"events": [ev]}, headers=h).status_code == 200
            after = c.get("/v1/users/u_coffee/recommendations?k=9", headers=h).json()["results"]
            assert "c3" not in [x["product_id"] for x in after]
            assert c.get("/metrics", headers=h).status_code == 403  # tenant keys do not see every tenant's series
            assert "recsys_events_ingested_total" in c.get("/metrics", headers={"X-API-Key": admin}).text
            assert c.get("/docs").status_code == 200


def _stored_users(store: str, tmp: Path, dsn: str | None) -> set[str]:
    if store == "sqlite":
        conn = sqlite3.connect(tmp / "ev.db")
        try:
            return {u for (u,) in conn.execute("SELECT user_id FROM events WHERE tenant = 'default'")}
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(dsn or "") as pg:
        return {u for (u,) in pg.execute("SELECT user_id FROM recsys_events WHERE tenant = 'default'")}


@pytest.fixture(params=["sqlite", "postgresql"])
def events_db(request: pytest.FixtureRequest) -> Iterator[tuple[str, str | None]]:
    """Each store the durability test runs against: (name, DSN or None for the SQLite file)."""
    if request.param == "sqlite":
        yield "sqlite", None
        return
    from tests.unit.pg import fresh_schema

    with fresh_schema() as dsn:
        yield "postgresql", dsn


def test_sigkill_during_ingestion_loses_no_acknowledged_event(tiny_index: Path, tmp_path: Path,
                                                              events_db: tuple[str, str | None]):
    store, dsn = events_db
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(base: str, n: int) -> None:
        with httpx.Client(base_url=base, timeout=5.0) as c:
            i = 0
            while not stop.is_set():
                users = [f"dur-{n}-{i}-{j}" for j in range(10)]
                batch = [{"user_id": u, "product_id": "c1", "event_type": "view", "timestamp": TS} for u in users]
                try:
                    r = c.post("/v1/events", json={"events": batch})
                except httpx.TransportError:
                    return  # the server died mid-request: this batch was never acknowledged
                if r.status_code == 200:
                    with lock:
                        acked.extend(users)
                i += 1

    with server(tiny_index, tmp_path, events_db=dsn) as (base, proc):
        threads = [threading.Thread(target=writer, args=(base, n)) for n in range(3)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while len(acked) < 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)  # no shutdown hook runs: only what was committed survives
        proc.wait(timeout=10)
        stop.set()
        for t in threads:
            t.join(timeout=10)
    assert len(acked) >= 200, "too few acknowledged batches before the kill"
    with server(tiny_index, tmp_path, events_db=dsn) as (base, _):
        stored = _stored_users(store, tmp_path, dsn)
        missing = set(acked) - stored
        assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:3]}"
        with httpx.Client(base_url=base, timeout=10.0) as c:
            for u in (acked[0], acked[-1]):
                assert c.get(f"/v1/users/{u}/profile").status_code == 200


def test_open_mode_is_loopback_only_and_says_so(tiny_index: Path, tmp_path: Path):
    refused = subprocess.run([sys.executable, "-m", "recsys.cli.main", "serve", "--index", str(tiny_index),
                              "--host", "0.0.0.0", "--port", str(free_port())],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "without --keys" in refused.stderr
    with server(tiny_index, tmp_path) as (base, _):
        assert httpx.get(base + "/v1/users/u_coffee/recommendations?k=1", timeout=10).status_code == 200
    log = next(tmp_path.glob("serve-*.log")).read_text()
    assert "running OPEN" in log


@pytest.mark.slow
def test_cold_start_with_the_real_model_over_http(sample_index: Path, tmp_path: Path):
    with server(sample_index, tmp_path) as (base, _), httpx.Client(base_url=base, timeout=30.0) as c:
        r = c.post("/v1/recommendations", json={"texts": ["a gift card for a coffee lover"], "k": 5})
        assert r.status_code == 200 and len(r.json()["results"]) == 5
        assert r.json()["strategy"] == "text"
        titles = " ".join(x["title"].lower() for x in r.json()["results"])
        assert "starbucks" in titles or "coffee" in titles
