"""Full build vs incremental rebuild after editing a few product descriptions, measured in one run.

    python benchmarks/bench_incremental.py [--data data/amazon2018_gift_cards] [--changes 10] [--no-verify]

Builds the dataset from scratch, edits `--changes` seeded-random descriptions, rebuilds incrementally
into the same index folder, and (unless --no-verify) builds the edited data from scratch once more to
check the incremental vectors equal the full ones. Writes benchmarks/results/incremental-<dataset>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from recsys.artifacts import load_artifacts
from recsys.build.pipeline import BuildOptions, build_index
from recsys.cli.evaluate import _git_sha, machine_info
from recsys.data.dataset import Dataset, load_dataset
from recsys.encoders import make_encoder

REPO = Path(__file__).resolve().parents[1]


def edit_descriptions(ds: Dataset, n: int, seed: int) -> tuple[Dataset, list[str]]:
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(ds.products), size=n, replace=False))
    products = ds.products.copy()
    col = products.columns.get_loc("description")
    for r in rows:
        products.iat[r, col] = f"{products.iat[r, col]} Now also redeemable online (edit {r})."
    return Dataset(products, ds.events, ds.source), products["product_id"].iloc[rows].tolist()


def _timed_build(ds: Dataset, index: Path, encoder_name: str, incremental: bool) -> dict[str, object]:
    t = time.perf_counter()
    res = build_index(ds, index, make_encoder(encoder_name), BuildOptions(progress=False, incremental=incremental))
    wall = time.perf_counter() - t
    lin = res.manifest.lineage
    return {"wall_s": round(wall, 2), "encode_s": round(res.timings["encode_s"], 2),
            "texts_encoded": lin.encoded, "vectors_reused": lin.reused_vectors, "strategy": lin.strategy,
            "changed": lin.changed, "version": res.manifest.version, "path": str(res.path)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO / "data" / "amazon2018_gift_cards")
    ap.add_argument("--encoder", default="all-MiniLM-L6-v2")
    ap.add_argument("--changes", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-verify", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    ds = load_dataset(args.data)
    make_encoder(args.encoder)  # load the model once, outside the timings
    edited, ids = edit_descriptions(ds, args.changes, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        full = _timed_build(ds, Path(tmp) / "idx", args.encoder, incremental=False)
        inc = _timed_build(edited, Path(tmp) / "idx", args.encoder, incremental=True)
        check: dict[str, object] = {}
        if not args.no_verify:
            ref = _timed_build(edited, Path(tmp) / "ref", args.encoder, incremental=False)
            a, b = load_artifacts(inc["path"]), load_artifacts(ref["path"])
            same_order = a.products["product_id"].tolist() == b.products["product_id"].tolist()
            check = {"full_build_of_edited_data": ref, "same_catalogue_order": same_order,
                     "max_abs_item_vector_diff": float(np.abs(a.item_vectors - b.item_vectors).max()),
                     "max_abs_user_vector_diff": float(np.abs(a.user_vectors - b.user_vectors).max())
                     if len(a.user_vectors) == len(b.user_vectors) else None}
    for run in (full, inc, check.get("full_build_of_edited_data", {})):
        run.pop("path", None)  # temp folders: machine paths stay out of the committed results
    report = {
        "benchmark": "incremental", "data": args.data.name, "n_products": len(ds.products),
        "n_events": len(ds.events), "encoder": args.encoder, "changed_products": ids,
        "full": full, "incremental": inc, "incremental_over_full_wall": round(inc["wall_s"] / full["wall_s"], 3),
        "verify": check, "git_sha": _git_sha(), "machine": machine_info(),
        "note": "one run on a machine whose 2 cores were shared with other jobs",
    }
    out = args.out or REPO / "benchmarks" / "results" / f"incremental-{args.data.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: report[k] for k in ("full", "incremental", "incremental_over_full_wall")}, indent=2))
    print(json.dumps({k: v for k, v in check.items() if k != "full_build_of_edited_data"}))


if __name__ == "__main__":
    main()
