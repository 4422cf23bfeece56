"""Free-text query encoding under concurrency, with and without micro-batching, in one run.

    python benchmarks/bench_microbatch.py [--encoder all-MiniLM-L6-v2] [--engine auto] [--levels 1,4,16]
        [--seconds 8] [--out benchmarks/results/microbatch.json]

C threads each encode one real product title at a time (queries as a search box sends them, drawn from
the shipped sample's titles) for `--seconds`, first straight through the engine, then through
`MicroBatchEncoder` (what `recsys serve` uses). Reports texts/s, p50/p99 latency per call and, with
batching, the mean texts per engine call. Same process, same engine, same texts: only the batching differs.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_api import REPO, machine  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def level(enc: object, titles: list[str], threads: int, seconds: float) -> dict[str, float]:
    lat: list[float] = []
    stop = time.perf_counter() + seconds
    lock = threading.Lock()

    def worker(seed: int) -> None:
        rnd = random.Random(seed)
        mine = []
        while time.perf_counter() < stop:
            t = time.perf_counter()
            enc.encode([rnd.choice(titles)], kind="query")  # type: ignore[attr-defined]
            mine.append(time.perf_counter() - t)
        with lock:
            lat.extend(mine)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    t0 = time.perf_counter()
    for p in pool:
        p.start()
    for p in pool:
        p.join()
    wall = time.perf_counter() - t0
    ms = np.array(lat) * 1000
    return {"threads": threads, "calls": len(lat), "texts_per_s": round(len(lat) / wall, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2)}


def main() -> None:
    from recsys.encoders import make_encoder
    from recsys.encoders.batching import MicroBatchEncoder

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--encoder", default="all-MiniLM-L6-v2")
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--levels", default="1,4,16")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "microbatch.json")
    args = ap.parse_args()
    titles = pd.read_parquet(REPO / "data" / "amazon2018_gift_cards" / "products.parquet")["title"].astype(str)
    titles = [t for t in titles.tolist() if t.strip()]
    inner = make_encoder(args.encoder, engine=args.engine)
    inner.encode(titles[:64], kind="query")  # warm the engine
    rows = []
    for c in (int(x) for x in args.levels.split(",")):
        plain = level(inner, titles, c, args.seconds)
        batched_enc = MicroBatchEncoder(inner)
        batched = level(batched_enc, titles, c, args.seconds)
        batched["texts_per_engine_call"] = round(batched_enc.batched_texts / max(batched_enc.calls, 1), 2)
        row = {"threads": c, "plain": plain, "microbatch": batched,
               "ratio_texts_per_s": round(batched["texts_per_s"] / max(plain["texts_per_s"], 1e-9), 2)}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    out = {"benchmark": "microbatch", "encoder": inner.name, "engine": inner.engine,
           "texts": "single gift-card titles from data/amazon2018_gift_cards, one per call",
           "machine": machine(), "levels": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
