"""Added latency per request of the learned ranker vs the weighted blend, on one built index.

Builds (or reuses) an index with `--ranker ltr`, then times `Recommender.for_user` for the same users
with the `LearnedRanker` and with the `BlendRanker` over the same artifacts, interleaved so both see
the same machine load. Writes JSON with machine info and the git sha.

    python benchmarks/bench_ltr_latency.py --data data/amazon2018_gift_cards --index indexes/gc_ltr \
        --out benchmarks/results/gift_cards-ltr/latency.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from recsys.build.pipeline import BuildOptions, build_index
from recsys.cli.evaluate import _git_sha, machine_info
from recsys.data.dataset import load_dataset
from recsys.encoders import make_encoder
from recsys.index import set_search_threads
from recsys.ranking.blend_ranker import BlendRanker
from recsys.ranking.ltr.ranker import LearnedRanker
from recsys.recommender import Recommender


def _times(rec: Recommender, users: list[str], k: int) -> np.ndarray:
    out = np.empty(len(users))
    for i, u in enumerate(users):
        t = time.perf_counter()
        rec.for_user(u, k)
        out[i] = time.perf_counter() - t
    return out * 1000.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--encoder", default="all-MiniLM-L6-v2")
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("-k", type=int, default=10)
    a = ap.parse_args()
    set_search_threads(1)
    t0 = time.perf_counter()
    if not (a.index / "current").exists():
        build_index(load_dataset(a.data), a.index, make_encoder(a.encoder), BuildOptions(progress=False, ranker="ltr"))
    build_s = time.perf_counter() - t0
    learned = Recommender.load(a.index)
    if not isinstance(learned.ranker, LearnedRanker):
        raise SystemExit(f"{a.index} holds no learned-ranker model; delete it or build with --ranker ltr")
    blend = Recommender(learned.art, config=learned.config)
    blend.ranker = BlendRanker(learned.art, learned.config)
    users = sorted(learned.art.history["user_id"].unique().tolist())[: a.users]
    for rec in (learned, blend):  # warm up
        _times(rec, users[:20], a.k)
    lt, bt = [], []
    for _ in range(a.rounds):
        lt.append(_times(learned, users, a.k))
        bt.append(_times(blend, users, a.k))
    lt_all, bt_all = np.concatenate(lt), np.concatenate(bt)
    stats = {name: {"mean_ms": round(float(v.mean()), 3), "p50_ms": round(float(np.median(v)), 3),
                    "p95_ms": round(float(np.percentile(v, 95)), 3)}
             for name, v in (("ltr", lt_all), ("blend", bt_all))}
    report = {
        "index": a.index.name, "index_version": learned.art.version, "encoder": learned.art.manifest.encoder.name,
        "products": len(learned.art.products), "users_timed": len(users), "rounds": a.rounds, "k": a.k,
        "build_s_including_ltr_training": round(build_s, 1) if build_s > 1 else None,
        "latency": stats,
        "added_ms_per_request_p50": round(stats["ltr"]["p50_ms"] - stats["blend"]["p50_ms"], 3),
        "ratio_p50": round(stats["ltr"]["p50_ms"] / stats["blend"]["p50_ms"], 2),
        "model": learned.art.ltr.meta,
        "git_sha": _git_sha(), "machine": machine_info(),
        "note": "CPU shared with other jobs; compare the two rankers within this run only",
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(json.dumps({k: report[k] for k in ("latency", "added_ms_per_request_p50", "ratio_p50")}, indent=1))


if __name__ == "__main__":
    main()
