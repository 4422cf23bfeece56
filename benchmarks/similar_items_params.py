"""What similar items lose and gain by searching with the parameters the build tuned for item queries.

    python benchmarks/similar_items_params.py --index /tmp/b1m-sq8i [--items 500] [--out FILE]

Loads one index version twice: as built (similar items search with `IndexInfo.item_search_params`) and
with those parameters removed (they search with the profile queries' `search_params`, as before the build
tuned them separately). For `--items` random catalogue items (seeded) it times `Recommender.similar_items`
(k=10, one thread, in process) both ways and reports how many of the ten answers they share. Not part of
the test suite; writes benchmarks/results/similar-items-params.json by default.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_api import machine  # noqa: E402

from recsys.artifacts import load_artifacts  # noqa: E402
from recsys.recommender import Recommender  # noqa: E402


def answers(rec: Recommender, pids: list[str]) -> tuple[list[list[str]], float]:
    for p in pids[:50]:  # warm the mapped pages either way
        rec.similar_items(p, 10)
    t = time.perf_counter()
    out = [[r.product_id for r in rec.similar_items(p, 10).results] for p in pids]
    return out, (time.perf_counter() - t) / len(pids) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--items", type=int, default=500)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "similar-items-params.json")
    args = ap.parse_args()
    art = load_artifacts(args.index, mmap=True)
    info = art.manifest.index
    rng = np.random.default_rng(args.seed)
    pids = [str(art.product_ids[p]) for p in rng.choice(len(art.items), min(args.items, len(art.items)),
                                                           replace=False)]
    profile = replace(art, manifest=art.manifest.model_copy(
        update={"index": info.model_copy(update={"item_search_params": {}})}))
    tuned, tuned_ms = answers(Recommender(art), pids)
    wide, wide_ms = answers(Recommender(profile), pids)
    overlap = float(np.mean([len(set(a) & set(b)) / max(len(b), 1) for a, b in zip(tuned, wide, strict=True)]))
    result = {
        "benchmark": "similar-items-params", "index": str(art.root), "items": len(art.items),
        "factory": info.factory, "profile_search_params": info.search_params,
        "profile_recall_at_10": info.recall_at_10, "item_search_params": info.item_search_params,
        "item_recall_at_10": info.item_recall_at_10, "queries": len(pids),
        "ms_per_answer_profile_params": round(wide_ms, 3), "ms_per_answer_item_params": round(tuned_ms, 3),
        "top10_shared_with_profile_params": round(overlap, 4), "machine": machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1))


if __name__ == "__main__":
    main()
