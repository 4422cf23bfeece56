"""`recsys serve --workers 2`: real worker processes behind one loopback port share counters and reloads
through the events store and the index folder, whichever worker answers.

Each worker counts the events it received in its own `/metrics`, so whether that counter is present tells
which worker answered a scrape: the test goes on until it has seen both."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import httpx
import pytest

from ..unit.test_service_shared_state import POPULAR, _build, _purchases
from .test_server_process import server

INGESTED = "recsys_events_ingested_total{"


def _scrape(base: str) -> str:
    return httpx.get(base + "/metrics", timeout=10.0).text  # a new connection each time: any worker answers


def _top(base: str) -> tuple[str, str]:
    body = httpx.get(f"{base}/v1/users/u_run/recommendations?k=9&{POPULAR}", timeout=10.0).json()
    return body["results"][0]["product_id"], body["index_version"]


def _both_workers(base: str, check, deadline: float) -> None:
    """Scrape until both workers (one with the ingest counter, one without) passed `check(metrics text)`."""
    seen: set[bool] = set()
    while seen != {True, False}:
        text = _scrape(base)
        if check(text):
            seen.add(INGESTED in text)
        if time.monotonic() > deadline:
            raise AssertionError(f"only {seen or 'no'} worker(s) passed before the deadline")
        time.sleep(0.02)


@pytest.mark.slow
def test_two_workers_share_events_and_follow_the_pointer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "index"
    v1 = _build(root)
    monkeypatch.setenv("RECSYS_SYNC_INTERVAL", "0")
    monkeypatch.setenv("RECSYS_RELOAD_POLL_INTERVAL", "0.2")
    with server(root, tmp_path, "--workers", "2") as (base, proc):
        assert _top(base) == ("c1", v1)
        r = httpx.post(base + "/v1/events", json=_purchases("b2", 6), timeout=10.0)
        assert r.status_code == 200 and r.json()["accepted"] == 6
        deadline = time.monotonic() + 30
        _both_workers(base, lambda _: True, deadline)  # both workers are up and answering
        for _ in range(20):  # whichever worker answers, it counted the events another one stored
            assert _top(base) == ("b2", v1)

        v2 = _build(root, extra_product="r4")  # moves `current`; nobody calls /v1/admin/reload
        info = re.compile(rf'recsys_index_info{{tenant="default",version="{v2}"}} 1\.0')
        _both_workers(base, lambda text: info.search(text) is not None, time.monotonic() + 30)
        assert {_top(base)[1] for _ in range(20)} == {v2}
        # The new version counts from its build on: events stored before it are taken as part of its data.
        assert httpx.post(base + "/v1/events", json=_purchases("r4", 8), timeout=10.0).status_code == 200
        for _ in range(20):
            assert _top(base) == ("r4", v2)
        assert proc.poll() is None


def test_a_broken_index_exits_4_before_any_worker_starts(tmp_path: Path):
    import subprocess
    import sys

    root = tmp_path / "index"
    v1 = _build(root)
    (root / v1 / "index.faiss").write_bytes(b"not a faiss index")
    done = subprocess.run([sys.executable, "-m", "recsys.cli.main", "serve", "--index", str(root), "--port", "0",
                           "--workers", "2", "--events-db", str(tmp_path / "ev.db")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 4, done.stderr
    assert "index.faiss" in done.stderr and "Started parent process" not in done.stderr


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_workers_stop_when_their_supervisor_is_killed(tmp_path: Path):
    import signal

    root = tmp_path / "index"
    _build(root)
    with server(root, tmp_path, "--workers", "2") as (base, proc):
        deadline = time.monotonic() + 30
        while len(_children(proc.pid)) < 2:  # the workers (and multiprocessing's resource tracker)
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.1)
        assert httpx.get(base + "/readyz", timeout=10.0).status_code == 200
        workers = _children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 20
        while any(_alive(w) for w in workers):
            assert time.monotonic() < deadline, f"workers still running: {[w for w in workers if _alive(w)]}"
            time.sleep(0.2)
        try:
            httpx.get(base + "/healthz", timeout=2.0)
            raise AssertionError("the port still answers after the supervisor and its workers are gone")
        except httpx.TransportError:
            pass


def _established(pid: int, port: int) -> list[int]:
    """Established connections on `port` held by each worker process of the server `pid`."""
    import psutil

    counts = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            conns = child.net_connections(kind="tcp")
        except psutil.Error:  # the resource tracker, or a process that ended meanwhile
            continue
        n = sum(1 for c in conns if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port)
        if n:
            counts.append(n)
    return sorted(counts)


def _get(sock: socket.socket, path: str) -> bool:
    """One keep-alive GET on `sock`; True when the server asked to close the connection."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += sock.recv(65536)
    return re.search(rb"(?i)\r\nconnection: *close", head) is not None


@pytest.mark.slow
def test_workers_even_out_keep_alive_connections_opened_in_one_burst(tmp_path: Path):
    """8 keep-alive connections opened at once (as wrk or a proxy's pool does) end up 4 and 4, whichever
    worker accepted them: a worker over its share answers with `Connection: close`, the client reconnects."""
    root = tmp_path / "index"
    _build(root)
    with server(root, tmp_path, "--workers", "2") as (base, proc):
        port = int(base.rsplit(":", 1)[1])
        deadline = time.monotonic() + 60
        while len(_children(proc.pid)) < 3:  # two workers and multiprocessing's resource tracker
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.1)
        socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(8)]
        try:
            while _established(proc.pid, port) != [4, 4]:
                assert time.monotonic() < deadline, f"connections stayed split {_established(proc.pid, port)}"
                for i, s in enumerate(socks):
                    if _get(s, "/healthz"):
                        s.close()
                        socks[i] = socket.create_connection(("127.0.0.1", port))
                time.sleep(0.05)
        finally:
            for s in socks:
                s.close()
        # each worker exports how many it closed (the one that answers this scrape may have closed none)
        assert re.search(r"(?m)^recsys_connections_shed_total \d", _scrape(base))
