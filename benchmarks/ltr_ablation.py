"""Ablation of the learned ranker: which candidate source or feature group buys what.

Runs the evaluation protocol (`recsys.evaluation.evaluate_methods`) for `ltr`, `multisource` and every
`ltr-no_<source>` / `ltr-no_<feature group>` variant (or the `--only` subset of them), plus any other
method of `recsys evaluate` named in `--with` (e.g. `ease`, to compare on the same sample). `--users N`
keeps a seeded sample of N users (all their events) so the many model fits fit in minutes on large data;
the sample is recorded in the report.

    python benchmarks/ltr_ablation.py --data data/amazon2018_gift_cards --out benchmarks/results/gift_cards-ltr/ablation
    python benchmarks/ltr_ablation.py --data ../shared/data/amazon2014_beauty_5core_seq --split leave-one-out \
        --encoder hashing-256 --users 4000 --only none --with ease --n-boot 200 --out /tmp/beauty-4000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from recsys.cli.evaluate import _git_sha, machine_info
from recsys.data import schema as S
from recsys.data.dataset import load_dataset
from recsys.encoders import CachedEncoder, make_encoder
from recsys.evaluation import EvalConfig, evaluate_methods, write_report
from recsys.evaluation.ltr_scorers import ABLATIONS
from recsys.evaluation.methods import all_methods


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--split", default="last-day")
    ap.add_argument("--encoder", default="all-MiniLM-L6-v2")
    ap.add_argument("--users", type=int, default=0, help="seeded user sample (0 = all users)")
    ap.add_argument("--only", default="", help="comma-separated subset of the ablation variants ('none': no variant)")
    ap.add_argument("--with", dest="extra", default="", help="comma-separated other methods to run beside them")
    ap.add_argument("--n-boot", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    ds = load_dataset(a.data)
    events = ds.events
    if a.users:
        users = np.sort(events[S.USER_ID].unique().astype(object))
        keep = np.random.default_rng(a.seed).choice(users, size=min(a.users, len(users)), replace=False)
        events = events[events[S.USER_ID].isin(keep)].reset_index(drop=True)
    enc = CachedEncoder(make_encoder(a.encoder))
    variants = [v for v in a.only.split(",") if v and v != "none"] or ([] if a.only == "none" else list(ABLATIONS))
    extra = [m for m in a.extra.split(",") if m]
    methods = all_methods(enc, only=["multisource", "ltr", *variants, *extra])
    t0 = time.perf_counter()
    report = evaluate_methods(ds.products, events, methods, EvalConfig(scheme=a.split, n_boot=a.n_boot), progress=True)
    report["dataset"]["source"] = a.data.name
    report["dataset"]["user_sample"] = {"users": a.users or "all", "seed": a.seed}
    report["git_sha"] = _git_sha()
    report["machine"] = machine_info()
    report["encoder"] = enc.describe()
    report["wall_s"] = round(time.perf_counter() - t0, 1)
    write_report(report, a.out)
    print((a.out / "report.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
