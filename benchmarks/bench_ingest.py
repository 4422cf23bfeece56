"""Event ingest throughput of the event stores: SQLite and PostgreSQL, one writer and several writer threads.

    python benchmarks/bench_ingest.py [--batches 200] [--batch-size 100] [--threads 4] [--postgres DSN]
                                      [--out benchmarks/results/ingest.json]

Appends `--batches` batches of `--batch-size` canonical events (each with a unique `event_id`, as a retrying
client sends them) through `EventStore.append`, which returns only after the commit is durable. Runs: one
writer; `--threads` writer threads on one tenant (PostgreSQL serialises a tenant's appends, SQLite every
append); `--threads` writers on one tenant each. The batches are built before timing; every run starts
from an empty store (a new SQLite file in a temp folder, a new PostgreSQL schema, dropped afterwards).
PostgreSQL runs need a server (`--postgres` or RECSYS_TEST_POSTGRES_DSN; `.ci/postgres start DIR` starts a
local one); without one they are left out and the JSON says so. Writes events/s and per-batch latency
(p50/p99) per run with machine info, server settings and git sha. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recsys.data import schema as S  # noqa: E402
from recsys.data.dataset import normalize_events  # noqa: E402
from recsys.store import EVENT_ID, EventStore, PostgresEventStore, SQLiteEventStore  # noqa: E402
from recsys.store.postgres import describe  # noqa: E402


def batches(n: int, size: int, seed: int = 0) -> list[pd.DataFrame]:
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    out = []
    for b in range(n):
        ev = normalize_events(pd.DataFrame({
            S.USER_ID: [f"u{u}" for u in rng.integers(0, 5_000, size)],
            S.PRODUCT_ID: [f"p{p}" for p in rng.integers(0, 50_000, size)],
            S.EVENT_TYPE: rng.choice(["view", "click", "cart", "purchase"], size, p=[.6, .2, .1, .1]),
            S.TIMESTAMP: t0 + pd.to_timedelta(rng.integers(0, 180 * 86400, size), unit="s"),
            S.RATING: np.nan, S.TEXT: ""}))
        ev[EVENT_ID] = pd.Series([f"b{b}-e{i}" for i in range(size)], dtype=object)
        out.append(ev)
    return out


def run(store: EventStore, work: list[pd.DataFrame], threads: int, tenants: int) -> dict[str, object]:
    """Appends `work` split round-robin over `threads` writers (writer w uses tenant w % tenants)."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    stored = [0] * threads
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads + 1)

    def writer(w: int) -> None:
        tenant = f"bench-{w % tenants}"
        barrier.wait()
        try:
            for ev in work[w::threads]:
                t = time.perf_counter()
                stored[w] += store.append(tenant, ev).count
                latencies[w].append(time.perf_counter() - t)
        except BaseException as exc:  # reported after the run: a thread's exception would otherwise vanish
            errors.append(exc)

    pool = [threading.Thread(target=writer, args=(w,)) for w in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in pool:
        t.join()
    seconds = time.perf_counter() - start
    if errors:
        raise errors[0]
    lat = np.array([x for per in latencies for x in per]) * 1000
    events = sum(stored)
    expected = sum(len(ev) for ev in work)
    if events != expected:
        raise RuntimeError(f"stored {events} events, expected {expected}")
    return {"threads": threads, "tenants": tenants, "batches": len(work), "events": events,
            "seconds": round(seconds, 3), "events_per_s": round(events / seconds), "batches_per_s":
            round(len(work) / seconds, 1), "batch_ms_p50": round(float(np.percentile(lat, 50)), 2),
            "batch_ms_p99": round(float(np.percentile(lat, 99)), 2)}


@contextmanager
def sqlite_store(folder: Path) -> Iterator[EventStore]:
    store = SQLiteEventStore(folder / f"ev-{uuid.uuid4().hex[:8]}.db")
    try:
        yield store
    finally:
        store.close()


@contextmanager
def postgres_store(dsn: str, pool: int) -> Iterator[EventStore]:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    schema = f"recsys_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    store = PostgresEventStore(make_conninfo(dsn, options=f"-c search_path={schema}"), max_size=pool)
    try:
        yield store
    finally:
        store.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def postgres_info(dsn: str) -> dict[str, object]:
    import psycopg

    with psycopg.connect(dsn) as conn:
        settings = {name: conn.execute(f"SHOW {name}").fetchone()[0]
                    for name in ("server_version", "fsync", "synchronous_commit", "wal_sync_method",
                                 "shared_buffers")}
    return {**settings, "psycopg": psycopg.__version__, "server": describe(dsn)}


def machine(folder: Path) -> dict[str, object]:
    """`bench_api.machine()` plus the SQLite version and the file system holding the SQLite file."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_api import machine as base_machine

    fs = subprocess.run(["df", "-T", str(folder)], capture_output=True, text=True).stdout.splitlines()[-1:]
    return {**base_machine(), "sqlite": sqlite3.sqlite_version, "sqlite_folder_fs": fs[0].split()[1] if fs else ""}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--postgres", default=os.environ.get("RECSYS_TEST_POSTGRES_DSN"),
                    help="PostgreSQL DSN [RECSYS_TEST_POSTGRES_DSN]; without one only SQLite runs.")
    ap.add_argument("--folder", type=Path, default=None, help="Where the SQLite files go [a temp folder].")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "ingest.json")
    args = ap.parse_args()

    work = batches(args.batches, args.batch_size)
    warm = batches(1, args.batch_size, seed=1)
    plans = [(1, 1), (args.threads, 1), (args.threads, args.threads)]
    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        folder = Path(tmp)
        backends: dict[str, Callable[[], AbstractContextManager[EventStore]]] = {
            "sqlite": lambda: sqlite_store(folder)}
        if args.postgres:
            backends["postgresql"] = lambda: postgres_store(args.postgres, pool=args.threads)
        runs_by_backend: dict[str, list[dict[str, object]]] = {}
        result: dict[str, object] = {"machine": machine(folder), "batch_size": args.batch_size,
                                     "batches": args.batches, "runs": runs_by_backend}
        if args.postgres:
            result["postgresql_server"] = postgres_info(args.postgres)
        else:
            result["postgresql_server"] = "not measured: no --postgres DSN (nor RECSYS_TEST_POSTGRES_DSN)"
        for name, open_store in backends.items():
            runs = []
            for threads, tenants in plans:
                with open_store() as store:
                    store.append("warm-up", warm[0])
                    r = run(store, work, threads, tenants)
                runs.append(r)
                print(f"{name:10s} {threads} writer(s) on {tenants} tenant(s): {r['events_per_s']:>8,} events/s "
                      f"(batch p50 {r['batch_ms_p50']} ms, p99 {r['batch_ms_p99']} ms)", file=sys.stderr)
            runs_by_backend[name] = runs
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
