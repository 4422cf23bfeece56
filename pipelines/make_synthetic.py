"""Offline job: write a seeded synthetic dataset in the canonical schema (for scale and load tests).

    python pipelines/make_synthetic.py --products 1000000 --users 1000000 --out data/synthetic_1m [--seed 0]
        [--seed-data data/amazon2018_gift_cards] [--events-per-user 5] [--skip-validation]

Product and review texts recombine real fields of the seed dataset (see `recsys.data.synth`). The result is
validated like any input before it is written (at a million rows validation takes longer than
generating; `--skip-validation` skips it, the generator's output is canonical by construction and tested).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from recsys.data import schema as S
from recsys.data.dataset import load_dataset, make_dataset
from recsys.data.synth import SynthParams, synthesize

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--products", type=int, required=True)
    ap.add_argument("--users", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--events-per-user", type=float, default=5.0)
    ap.add_argument("--skip-validation", action="store_true")
    ap.add_argument("--seed-data", type=Path, default=REPO / "data" / "amazon2018_gift_cards")
    args = ap.parse_args()
    t0 = time.perf_counter()
    ds = synthesize(load_dataset(args.seed_data), SynthParams(args.products, args.users,
                                                               events_per_user=args.events_per_user, seed=args.seed))
    if not args.skip_validation:
        ds = make_dataset(ds.products, ds.events, source=ds.source)  # validate before writing anything
    args.out.mkdir(parents=True, exist_ok=True)
    ds.products.to_parquet(args.out / S.PRODUCTS_FILE, index=False)
    ds.events.to_parquet(args.out / S.EVENTS_FILE, index=False)
    print(f"wrote {len(ds.products):,} products and {len(ds.events):,} events of {args.users:,} users to {args.out} "
          f"in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
