"""Memory per worker of `recsys serve --workers W`: RSS, USS (pages only that process holds) and PSS (shared
pages split between the processes mapping them), for each W given.

    python benchmarks/rss_workers.py [--index DIR] [--encoder all-MiniLM-L6-v2] [--workers 1,2] [--out FILE]

Without `--index`, builds the shipped Gift Cards sample (data/amazon2018_gift_cards) with `--encoder` into a
temporary folder. Each server answers a few recommendation, similar-item and text requests first, so every
worker has loaded and used its encoder and index before it is measured. FAISS indexes are memory-mapped
read-only, so their pages are shared between the workers (counted in RSS, split in PSS). Not part of the
test suite; writes `benchmarks/results/rss-workers.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "amazon2018_gift_cards"
MiB = 2**20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _build(out: Path, encoder: str) -> Path:
    from recsys.build.pipeline import BuildOptions, build_index
    from recsys.data.dataset import load_dataset
    from recsys.encoders import make_encoder

    build_index(load_dataset(SAMPLE), out, make_encoder(encoder), BuildOptions(progress=False))
    return out


def _workers(proc: psutil.Process, n: int) -> list[psutil.Process]:
    if n == 1:
        return [proc]
    return [c for c in proc.children(recursive=True)
            if "resource_tracker" not in " ".join(c.cmdline()) and "multiprocessing" in " ".join(c.cmdline())]


def measure(index: Path, workers: int, tmp: Path) -> dict:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp / f"serve-{workers}.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "recsys.cli.main", "serve", "--index", str(index), "--port",
                             str(port), "--events-db", str(tmp / "ev.db"), "--workers", str(workers),
                             "--no-answer-log"], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not start: {(tmp / f'serve-{workers}.log').read_text()[-2000:]}")
            time.sleep(0.2)
        user = httpx.get(base + "/v1/users/A1U1G73EI5IRZF/profile", timeout=30)
        for _ in range(10 * workers):  # new connections: each worker gets some of them
            if user.status_code == 200:
                httpx.get(base + "/v1/users/A1U1G73EI5IRZF/recommendations?k=10", timeout=30)
            httpx.get(base + "/v1/items/B00MV9FPLM/similar?k=10", timeout=30)
            httpx.post(base + "/v1/recommendations", json={"texts": ["a gift card for a coffee lover"], "k": 10},
                       timeout=30)
        time.sleep(1.0)
        rows = []
        for p in _workers(psutil.Process(proc.pid), workers):
            m = p.memory_full_info()
            rows.append({"pid": p.pid, "rss_mib": round(m.rss / MiB, 1), "uss_mib": round(m.uss / MiB, 1),
                         "pss_mib": round(m.pss / MiB, 1)})
        return {"workers": workers, "per_worker": rows,
                "total_rss_mib": round(sum(r["rss_mib"] for r in rows), 1),
                "total_pss_mib": round(sum(r["pss_mib"] for r in rows), 1)}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path)
    ap.add_argument("--encoder", default="all-MiniLM-L6-v2")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "rss-workers.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        index = args.index or _build(tmp / "gift_cards", args.encoder)
        results = [measure(index, int(w), tmp) for w in args.workers.split(",")]
    out = {"index": str(args.index or f"{SAMPLE.name} built with {args.encoder}"), "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    for r in results:
        per = ", ".join(f"{w['rss_mib']:.0f}/{w['uss_mib']:.0f}/{w['pss_mib']:.0f}" for w in r["per_worker"])
        print(f"workers={r['workers']}: RSS/USS/PSS MiB per worker {per}; total RSS {r['total_rss_mib']:.0f}, "
              f"total PSS {r['total_pss_mib']:.0f}")


if __name__ == "__main__":
    main()
