"""HTTP load benchmark of `recsys serve` on loopback against a synthetic catalogue.

    python benchmarks/bench_api.py --items 100000 [--levels 1,4,16,64] [--duration 10] [--out FILE]
    python benchmarks/bench_api.py --items 1000000 --index indexes/bench-1m   # reuse a built index
    python benchmarks/bench_api.py --items 100000 --workers 2 --mix mixed     # 2 workers, mixed load

Builds a seeded synthetic catalogue (titles from a small vocabulary, Zipf-skewed events) with the
hashing encoder at 384 dimensions (MiniLM's width; the encoder itself is not what is measured), starts
the real server as a subprocess, and drives it with a closed-loop keep-alive HTTP/1.1 client (asyncio,
one connection per simulated client) at each concurrency level. `--mix recommend`: 80% user
recommendations (k=10) for known users, 20% similar items; `--mix mixed`: 50% user recommendations, 15%
similar items, 10% free-text queries, 10% portraits, 15% event batches; `--mix events`: event batches
only (1-20 events each, as in the mixed load). `--workers W` runs `recsys serve
--workers W`. The load generator runs on the same cores as the server (stated in the result). Bounded:
each level runs `--duration` seconds or `--max-requests`. Writes RPS and p50/p95/p99 per level (and per
route) and the server's memory per process (RSS, PSS, USS; see `server_rss_mb`) with machine info and
git sha to JSON.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import wrk_load  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ADJ = ["red", "blue", "green", "black", "white", "small", "large", "organic", "classic", "premium", "compact",
       "wireless", "leather", "wooden", "steel"]
NOUN = ["mug", "kettle", "grinder", "lamp", "chair", "desk", "shoe", "sock", "watch", "novel", "guide", "card",
        "bottle", "bag", "jacket", "hat", "tent", "stove", "pan", "knife", "brush"]
CATS = [f"Dept{d} > Aisle{a}" for d in range(20) for a in range(10)]


def synthetic(n_items: int, n_users: int, events_per_user: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, len(ADJ), n_items), rng.integers(0, len(NOUN), n_items)
    c = rng.integers(0, len(ADJ), n_items)
    cat = rng.integers(0, len(CATS), n_items)
    titles = [f"{ADJ[x]} {ADJ[z]} {NOUN[y]} model {i % 997}" for i, (x, y, z) in enumerate(zip(a, b, c, strict=True))]
    products = pd.DataFrame({"product_id": [f"p{i}" for i in range(n_items)], "title": titles, "description": "",
                             "category": [CATS[i] for i in cat], "brand": [f"brand{i % 500}" for i in range(n_items)],
                             "price": np.round(rng.uniform(1, 300, n_items), 2)})
    n_ev = n_users * events_per_user
    items = np.minimum(rng.zipf(1.3, n_ev) - 1, n_items - 1)
    items = rng.permutation(n_items)[items]
    events = pd.DataFrame({"user_id": [f"u{i}" for i in np.repeat(np.arange(n_users), events_per_user)],
                           "product_id": [f"p{i}" for i in items],
                           "event_type": rng.choice(["view", "click", "cart", "purchase"], n_ev, p=[.6, .2, .1, .1]),
                           "timestamp": pd.Timestamp("2024-01-01", tz="UTC")
                           + pd.to_timedelta(rng.integers(0, 180 * 86400, n_ev), unit="s"),
                           "rating": np.nan, "text": ""})
    return products, events


WORDS = ["red mug", "wireless lamp", "leather shoe", "steel kettle", "organic tent", "compact stove",
         "classic watch", "wooden desk", "premium brush", "black jacket"]


def raw_request(method: str, path: str, body: object | None = None) -> bytes:
    if body is None:
        return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    data = json.dumps(body).encode()
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode()
    return head + data


def event_batch(rng: random.Random, now: Any, n_items: int, n_users: int) -> dict[str, object]:
    """One `POST /v1/events` body: 1–20 events, 70% from known users, 30% from a pool of 2,000 new ones
    (so live state stays bounded), timestamps in the day before `now`."""
    from datetime import timedelta

    events = []
    for _ in range(rng.randint(1, 20)):
        user = f"u{rng.randrange(n_users)}" if rng.random() < 0.7 else f"new{rng.randrange(2000)}"
        ts = now - timedelta(seconds=rng.randrange(86_000))
        events.append({"user_id": user, "product_id": f"p{rng.randrange(n_items)}",
                       "event_type": rng.choice(["view", "click", "cart", "purchase"]),
                       "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ")})
    return {"events": events}


def workload(mix: str, n_items: int, n_users: int, seed: int = 0, size: int = 6000) -> tuple[list[bytes], list[str]]:
    """Pre-built raw requests and their kinds. Event batches use known users and a pool of 2,000 new ones
    (live state stays bounded) with timestamps in the last day."""
    from datetime import UTC, datetime

    rng = random.Random(seed)
    now = datetime.now(UTC)
    shares = {"recommend": [("user", .8), ("similar", .2)],
              "mixed": [("user", .5), ("similar", .15), ("query", .1), ("profile", .1), ("events", .15)],
              "events": [("events", 1.0)]}[mix]
    reqs, kinds = [], []
    for _ in range(size):
        r, acc, kind = rng.random(), 0.0, shares[-1][0]
        for name, share in shares:
            acc += share
            if r < acc:
                kind = name
                break
        if kind == "user":
            reqs.append(raw_request("GET", f"/v1/users/u{rng.randrange(n_users)}/recommendations?k=10"))
        elif kind == "similar":
            reqs.append(raw_request("GET", f"/v1/items/p{rng.randrange(n_items)}/similar?k=10"))
        elif kind == "query":
            reqs.append(raw_request("POST", "/v1/recommendations", {"texts": [rng.choice(WORDS)], "k": 10}))
        elif kind == "profile":
            reqs.append(raw_request("GET", f"/v1/users/u{rng.randrange(n_users)}/profile"))
        else:
            reqs.append(raw_request("POST", "/v1/events", event_batch(rng, now, n_items, n_users)))
        kinds.append(kind)
    return reqs, kinds


def smaps_mb(pid: int) -> dict[str, float]:
    """RSS, PSS, USS and anonymous memory of one process (MiB) from /proc/PID/smaps_rollup. RSS counts
    every resident page the process maps, so pages of a file mapped by several workers count once per
    worker; PSS divides each page by the processes sharing it (PSS summed over processes = their memory
    together); USS is the process's private pages (what ending it would free), which include the pages
    of a file only it maps; anon is its heap (pages no file backs: the kernel cannot drop them)."""
    kb: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split()[:2]
        kb[name.rstrip(":")] = int(value)
    uss = kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0)
    return {k: round(v / 1024, 1)
            for k, v in (("rss", kb["Rss"]), ("pss", kb["Pss"]), ("uss", uss), ("anon", kb["Anonymous"]))}


def _role(proc: Any, parent: int) -> str:
    if proc.pid == parent:
        return "serve"
    cmd = " ".join(proc.cmdline())
    return "resource_tracker" if "resource_tracker" in cmd else "worker"


def server_rss_mb(pid: int) -> dict[str, object]:
    """Memory of the server process and each of its child processes (MiB): RSS per process and summed (as
    before), and each process's RSS, PSS, USS and anon with their totals (PSS total: the memory they hold
    together; summed RSS counts the pages of the memory-mapped index files once per worker)."""
    import psutil

    proc = psutil.Process(pid)
    procs = [p for p in [proc, *proc.children(recursive=True)] if p.is_running()]
    detail: dict[str, dict[str, Any]] = {}
    for p in procs:
        try:
            detail[str(p.pid)] = {"role": _role(p, pid), **smaps_mb(p.pid)}
        except (OSError, psutil.Error):  # ended meanwhile
            continue
    per = {k: v["rss"] for k, v in detail.items()}
    return {"per_process": per, "total": round(sum(per.values()), 1), "processes": detail,
            "pss_total": round(sum(v["pss"] for v in detail.values()), 1),
            "uss_total": round(sum(v["uss"] for v in detail.values()), 1),
            "anon_total": round(sum(v["anon"] for v in detail.values()), 1)}


def cache_shares(port: int) -> dict[str, float]:
    """Since the server started, in the worker that answers the scrape (each worker counts its own, so with
    W > 1 this samples one): the share of answer-cache lookups that hit, and the share of GET requests
    answered by replaying kept bytes (`recsys.service.replay`)."""
    import re

    import httpx

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text

    def total(pattern: str) -> float:
        return sum(float(v) for v in re.findall(pattern + r" (\S+)", text))

    hits = total(r'recsys_cache_lookups_total\{cache="answers",result="hit"[^}]*\}')
    misses = total(r'recsys_cache_lookups_total\{cache="answers",result="miss"[^}]*\}')
    gets = total(r'recsys_requests_total\{method="GET",route="/v1/[^"]*"[^}]*\}')
    replayed = total(r"recsys_answers_replayed_total\{[^}]*\}")
    return {"answer_cache_hit_share": round(hits / max(hits + misses, 1), 3),
            "replayed_share_of_gets": round(replayed / max(gets, 1), 3), "gets_counted": gets}


def server_cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by the server process and its workers."""
    import psutil

    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def connections_per_worker(pid: int, port: int) -> list[int]:
    """Established connections on `port` held by each process of the server, most first: wrk opens its
    connections once and keeps them, so how the workers happened to accept them bounds what each serves."""
    import psutil

    counts = []
    for p in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        try:
            conns = p.net_connections(kind="tcp")
        except psutil.Error:
            continue
        n = sum(1 for c in conns if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port)
        if n:
            counts.append(n)
    return sorted(counts, reverse=True)


def cpu_ticks() -> tuple[int, int]:
    """(steal, total) CPU ticks of the machine so far (/proc/stat): on a virtual machine the hypervisor's
    share of the level (`cpu_steal_share`) says how much of the cores the server and wrk did not get."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def start_server(index: Path, tmp: Path, *extra: str, code: Path | None = None) -> tuple[subprocess.Popen, int, Any]:
    """`recsys serve` on a free loopback port (events in ``tmp``/ev.db, log in ``tmp``/serve.log), once ready.
    `code`: a checkout whose `recsys` package to run (another commit's, to compare), default this one."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if code is not None:
        env["PYTHONPATH"] = str(code)
    log = (tmp / "serve.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "recsys.cli.main", "serve", "--index", str(index), "--port",
                             str(port), "--events-db", str(tmp / "ev.db"), "--no-answer-log", "--log-level",
                             "warning", *extra], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=code)
    deadline = time.monotonic() + 600
    while True:
        if proc.poll() is not None:
            log.close()
            raise SystemExit(f"server exited: {(tmp / 'serve.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc, port, log
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            log.close()
            raise SystemExit("server not ready after 600 s")
        time.sleep(0.5)


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM (uvicorn stops its workers gracefully), SIGKILL after 30 s; workers whose supervisor died
    stop on their own (`recsys.service.app.stop_with_supervisor`)."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


def build(index: Path, n_items: int, n_users: int, ranker: str = "auto",
          max_index_memory: str | None = None) -> dict[str, object]:
    from recsys.build.pipeline import BuildOptions, build_index
    from recsys.data.dataset import make_dataset
    from recsys.encoders import make_encoder
    from recsys.index.choose import parse_bytes

    t = time.perf_counter()
    products, events = synthetic(n_items, n_users, 8)
    result = build_index(make_dataset(products, events, f"synthetic-{n_items}"), index, make_encoder("hashing-384"),
                         BuildOptions(progress=False, recall_queries=200, ranker=ranker,  # type: ignore[arg-type]
                                      max_memory_bytes=None if max_index_memory is None
                                      else parse_bytes(max_index_memory)),
                         log=lambda m: print(m, file=sys.stderr))
    return {"build_seconds": round(time.perf_counter() - t, 1), "ranker": ranker,
            "max_index_memory": max_index_memory, "timings": result.timings}


async def _client(host: str, port: int, paths: list[bytes], stop_at: float, budget: list[int],
                  out: list[tuple[int, float, int]]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    rnd = random.Random(len(out) + port)
    try:
        while time.perf_counter() < stop_at and budget[0] > 0:
            budget[0] -= 1
            i = rnd.randrange(len(paths))
            t0 = time.perf_counter()
            writer.write(paths[i])
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length, close = 0, False
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                close = close or line.lower() == b"connection: close"
            await reader.readexactly(length)
            out.append((i, time.perf_counter() - t0, status))
            if close:  # the server asked for a new connection (a worker evening out its share), as wrk does
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


async def level(host: str, port: int, paths: list[bytes], concurrency: int, duration: float, warmup: float,
                max_requests: int) -> list[tuple[int, float, int]]:
    await asyncio.gather(*[_client(host, port, paths, time.perf_counter() + warmup, [10**9], [])
                           for _ in range(concurrency)])
    out: list[tuple[int, float, int]] = []
    budget = [max_requests]
    await asyncio.gather(*[_client(host, port, paths, time.perf_counter() + duration, budget, out)
                           for _ in range(concurrency)])
    return out


def summarise(samples: list[tuple[int, float, int]], seconds: float, kinds: list[str]) -> dict[str, object]:
    lat = np.array([s[1] for s in samples]) * 1000
    ok = sum(1 for s in samples if s[2] == 200)

    def pct(x: np.ndarray) -> dict[str, float]:
        return {f"p{q}": round(float(np.percentile(x, q)), 2) for q in (50, 95, 99)} | {"max": round(float(x.max()), 2)}

    by_route = {}
    for kind in sorted(set(kinds)):
        x = np.array([s[1] for s in samples if kinds[s[0]] == kind]) * 1000
        if len(x):
            by_route[kind] = {"n": len(x), **pct(x)}
    return {"requests": len(samples), "ok": ok, "errors": len(samples) - ok, "seconds": round(seconds, 2),
            "rps": round(len(samples) / seconds, 1), "latency_ms": pct(lat), "by_route": by_route}


def machine() -> dict[str, object]:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    mem = next((ln.split()[1] for ln in meminfo if ln.startswith("MemTotal")), "0")
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout)
    except OSError:
        sha, dirty = "", False
    import faiss

    return {"platform": platform.platform(), "python": platform.python_version(), "cpu": cpu,
            "cores": os.cpu_count(), "mem_gib": round(int(mem) / 2**20, 1), "faiss": faiss.__version__,
            "git_sha": sha, "git_dirty": dirty, "loadavg_at_start": os.getloadavg()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--index", type=Path, help="Index folder to reuse (built there if empty).")
    ap.add_argument("--levels", default="1,4,16,64")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--max-requests", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--pool", type=int, default=6000,
                    help="Distinct pre-built requests drawn at random (fewer: more repeats, so more cache hits).")
    ap.add_argument("--mix", choices=["recommend", "mixed", "events"], default="recommend")
    ap.add_argument("--ranker", choices=["auto", "blend", "ltr"], default="auto",
                    help="The build's --ranker when the index is built here (auto: what a plain build serves).")
    ap.add_argument("--client", choices=["wrk", "python"], default="wrk" if wrk_load.available() else "python",
                    help="Load generator: wrk (C, default when installed) or the asyncio client (per-route numbers).")
    ap.add_argument("--max-index-memory", metavar="SIZE",
                    help="The build's --max-index-memory when the index is built here (e.g. 1G: 8-bit codes at 1M).")
    ap.add_argument("--build-only", action="store_true", help="Build the index (when absent) and stop.")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    index = args.index or tmp / "index"
    info: dict[str, object] = {"reused_index": True}
    if not (index / "current").exists():
        info = build(index, args.items, args.users, args.ranker, args.max_index_memory)
        if args.build_only:
            print(json.dumps(info, indent=2))
            return
    from recsys.index import Manifest, resolve_version

    manifest = Manifest.load(resolve_version(index))
    proc, port, log = start_server(index, tmp, "--workers", str(args.workers))
    try:
        n_users = min(args.users, 20_000)
        paths, kinds = workload(args.mix, manifest.index.count, n_users, size=args.pool)
        results = []
        for c in (int(x) for x in args.levels.split(",")):
            if args.client == "wrk":  # warm-up first, so the CPU counted below is the timed run's only
                wrk_load.wrk_level(port, paths, c, args.warmup)
                cpu0, ticks0 = server_cpu_s(proc.pid), cpu_ticks()
                split: list[int] = []
                timer = threading.Timer(args.duration / 2, lambda out=split: out.extend(
                    connections_per_worker(proc.pid, port)))
                timer.start()
                row = {"concurrency": c, **wrk_load.wrk_level(port, paths, c, args.duration)}
                timer.cancel()
                ticks1 = cpu_ticks()
                row["connections_per_process"] = split
                row["cpu_steal_share"] = round((ticks1[0] - ticks0[0]) / max(ticks1[1] - ticks0[1], 1), 3)
            else:
                asyncio.run(level("127.0.0.1", port, paths, c, args.warmup, 0.0, args.max_requests))
                cpu0 = server_cpu_s(proc.pid)
                samples = asyncio.run(level("127.0.0.1", port, paths, c, args.duration, 0.0, args.max_requests))
                row = {"concurrency": c, **summarise(samples, args.duration, kinds)}
                row["rps"] = round(len(samples) / args.duration, 1)
            row["server_rss_mb"] = mem = server_rss_mb(proc.pid)
            # CPU the server spent per answered request: a cost that other jobs on the cores do not inflate
            # as much as latency (2 cores ÷ this = the request rate two idle cores could sustain).
            cpu = server_cpu_s(proc.pid) - cpu0
            n = int(row["requests"])  # type: ignore[call-overload]
            row["server_cpu_s"] = round(cpu, 2)
            row["server_cpu_ms_per_request"] = round(1000 * cpu / max(n, 1), 3)
            row["caches_one_worker_since_start"] = cache_shares(port)
            results.append(row)
            print(json.dumps({**{k: row[k] for k in ("concurrency", "rps", "latency_ms", "errors")},
                              "rss_total_mb": mem["total"], "pss_total_mb": mem["pss_total"],
                              **{k: row[k] for k in ("connections_per_process", "cpu_steal_share") if k in row}}),
                  file=sys.stderr)
    finally:
        stop_server(proc)
        log.close()
    report = {"benchmark": "api", "catalogue_items": manifest.index.count, "index_factory": manifest.index.factory,
              "search_params": manifest.index.search_params, "encoder": manifest.encoder.name,
              "dim": manifest.encoder.dim, "users_with_profile": manifest.data.n_users_with_profile,
              "workload": args.mix, "workers": args.workers, "request_pool": args.pool,
              "client": ("wrk -t1 (C), closed loop, keep-alive HTTP/1.1, one connection per concurrent client"
                         if args.client == "wrk" else
                         "closed loop, keep-alive HTTP/1.1, one connection per concurrent client, asyncio in one "
                         "process") + f", on the same {os.cpu_count()} cores as the server (it competes for them)",
              "build": info, "machine": machine(), "levels": results,
              "target": "≥ 800 RPS with p99 ≤ 25 ms at 1M items"}
    out = args.out or REPO / "benchmarks" / "results" / f"api-{manifest.index.count}-w{args.workers}-{args.mix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
