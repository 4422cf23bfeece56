"""Soak test of `recsys serve`: a mixed read/write load on loopback for many minutes, reporting errors,
latency and the server's memory minute by minute.

    python benchmarks/bench_soak.py --minutes 10 [--items 20000] [--clients 8] [--out FILE]

Builds the seeded synthetic catalogue of `bench_api.py` (hashing encoder, 384 dims), starts the real server
as a subprocess and drives it with closed-loop keep-alive clients: 50% user recommendations, 15% similar
items, 10% free-text queries, 10% user portraits, 15% event batches (1–20 events, known and a bounded set
of new users, timestamps within the last day). Each minute records requests, errors (any non-2xx status),
p50/p99 and the server's RSS. The verdict: 0 errors, and RSS after the first two minutes within 10% of its
value at minute 2. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import REPO, build, level, machine, start_server, workload  # noqa: E402


def minute_row(minute: int, samples: list[tuple[int, float, int]], kinds: list[str], seconds: float,
               rss: int) -> dict[str, object]:
    lat = np.array([s[1] for s in samples]) * 1000 if samples else np.zeros(1)
    errors = [s for s in samples if not 200 <= s[2] < 300]
    by_status: dict[str, int] = {}
    for s in errors:
        by_status[str(s[2])] = by_status.get(str(s[2]), 0) + 1
    return {"minute": minute, "requests": len(samples), "rps": round(len(samples) / seconds, 1),
            "errors": len(errors), "error_statuses": by_status,
            "p50_ms": round(float(np.percentile(lat, 50)), 2), "p99_ms": round(float(np.percentile(lat, 99)), 2),
            "events_batches": sum(1 for s in samples if kinds[s[0]] == "events"), "rss_mb": round(rss / 2**20, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=int, default=10)
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--users", type=int, default=5_000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--minute-seconds", type=float, default=60.0, help="Length of one reporting period.")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    info = build(tmp / "index", args.items, args.users)
    proc, port, log = start_server(tmp / "index", tmp)
    rows: list[dict[str, object]] = []
    try:
        server = psutil.Process(proc.pid)
        reqs, kinds = workload("mixed", args.items, args.users)
        rss_start = server.memory_info().rss
        for minute in range(1, args.minutes + 1):
            t = time.perf_counter()
            samples = asyncio.run(level("127.0.0.1", port, reqs, args.clients, args.minute_seconds, 0.0, 10**9))
            row = minute_row(minute, samples, kinds, time.perf_counter() - t, server.memory_info().rss)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        log.close()
    base = rows[min(1, len(rows) - 1)]["rss_mb"]  # minute 2
    later = [float(r["rss_mb"]) for r in rows[2:]] or [float(base)]  # type: ignore[arg-type]
    drift = max(abs(x - float(base)) for x in later) / float(base)  # type: ignore[arg-type]
    errors = sum(int(r["errors"]) for r in rows)  # type: ignore[call-overload]
    report = {
        "benchmark": "soak", "minutes": args.minutes, "minute_seconds": args.minute_seconds,
        "clients": args.clients, "catalogue_items": args.items, "users": args.users,
        "workload": "50% user recs, 15% similar, 10% text query, 10% profile, 15% event batches (1–20 events)",
        "client": "closed loop, keep-alive HTTP/1.1, one connection per client, same machine",
        "build": info, "rss_mb_at_start": round(rss_start / 2**20, 1), "per_minute": rows,
        "verdict": {"errors": errors, "rss_mb_minute_2": base, "rss_max_drift_after_minute_2": round(drift, 4),
                    "pass": errors == 0 and drift <= 0.10},
        "machine": machine(),
    }
    out = args.out or REPO / "benchmarks" / "results" / "soak.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report["verdict"]), file=sys.stderr)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
