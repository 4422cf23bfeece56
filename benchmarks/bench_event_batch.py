"""Server CPU per `POST /v1/events` batch, in process: no sockets, no other requests.

    python benchmarks/bench_event_batch.py --index /tmp/b100k/blend2 [--batches 300] [--profile 25]

Serves `--index` (an index root, read only; events go to a new SQLite file in a temp folder) through
FastAPI's TestClient and posts `--batches` batches shaped like `bench_api.py --mix mixed` sends them
(1–20 events of known and new users, timestamps in the last day), after `--warmup` batches. Prints the
wall and process-CPU milliseconds per batch (the TestClient's own cost included) and, with `--profile N`,
cProfile's N most expensive functions by cumulative time. The SQLite commit's fsync is part of the wall
time but hardly of the CPU time. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_api import event_batch  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from recsys.index import Manifest, resolve_version  # noqa: E402
from recsys.service import Settings, create_app  # noqa: E402


def batches(n: int, n_items: int, n_users: int = 20_000, seed: int = 0) -> list[dict[str, object]]:
    """Request bodies as `bench_api.workload` builds its event batches."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    return [event_batch(rng, now, n_items, n_users) for _ in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, required=True, help="An index root (with `current`), read only.")
    ap.add_argument("--batches", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--profile", type=int, default=0, help="Print this many functions of a cProfile run.")
    args = ap.parse_args()

    n_items = Manifest.load(resolve_version(args.index)).index.count
    work = batches(args.warmup + args.batches, n_items)
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp, \
            TestClient(create_app(Settings(index=args.index, events_db=str(Path(tmp) / "ev.db"),
                                           log_answers=False))) as client:
        for body in work[:args.warmup]:
            client.post("/v1/events", json=body).raise_for_status()
        timed = work[args.warmup:]
        profiler = cProfile.Profile() if args.profile else None
        wall0, cpu0 = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        for body in timed:
            client.post("/v1/events", json=body).raise_for_status()
        if profiler is not None:
            profiler.disable()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    events = sum(len(b["events"]) for b in timed)  # type: ignore[arg-type]
    print(json.dumps({"batches": len(timed), "events": events, "items": n_items, "profiled": bool(profiler),
                      "wall_ms_per_batch": round(1000 * wall / len(timed), 2),
                      "cpu_ms_per_batch": round(1000 * cpu / len(timed), 2)}))
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)


if __name__ == "__main__":
    main()
