"""Does recency-weighted popularity ("trending") lift EASE on a dataset with real timestamps?

EASE scores (row-normalised) plus β · log-popularity where each train interaction counts 0.5^(age/half-life)
days, age measured from the newest train event. The grid is measured on the validation period (fit on train)
and on test (fit on train + validation); the setting is chosen on validation only and its test recall is
reported beside plain EASE. Usage:

    python benchmarks/probe_trending.py --data data/amazon2018_gift_cards --out benchmarks/results/probe-trending.json
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.cli.evaluate import _git_sha, machine_info
from recsys.data import schema as S
from recsys.data.dataset import load_dataset
from recsys.data.splits import interactions, split_events, target_lists, train_valid_events
from recsys.evaluation.baselines import EASEScorer
from recsys.evaluation.data import build_eval_data
from recsys.evaluation.metrics import hit_matrix, recall_at_k
from recsys.evaluation.ranking import top_k

HALF_LIVES: tuple[float | None, ...] = (None, 3.0, 7.0, 30.0, 90.0, 365.0)
BETAS = (0.0, 0.05, 0.1, 0.2, 0.4)


def grid_recall(products: pd.DataFrame, train: pd.DataFrame, users: np.ndarray, targets: pd.DataFrame,
                lam: float) -> dict[str, float]:
    data = build_eval_data(products, train, users)
    ease = EASEScorer()
    ease.fit(data, {"lambda": lam})
    rows = data.user_rows(users)
    base = ease.score(rows)
    base = base / (np.abs(base).max(axis=1, keepdims=True) + 1e-9)
    inter = interactions(train)
    age = (inter[S.TIMESTAMP].max() - inter[S.TIMESTAMP]).dt.total_seconds().to_numpy() / 86400.0
    pos = data.item_positions(inter[S.PRODUCT_ID].to_numpy(dtype=object))
    tpos = [data.item_positions(t) for t in target_lists(interactions(targets), users)]
    n_targets = np.array([len(t) for t in tpos])
    out: dict[str, float] = {}
    for hl in HALF_LIVES:
        w = np.ones_like(age) if hl is None else 0.5 ** (age / hl)
        pop = np.bincount(pos, weights=w, minlength=data.n_items)
        lp = np.log1p(100 * pop / max(pop.max(), 1e-12))
        lp = lp / max(lp.max(), 1e-12)
        for beta in BETAS:
            ranked = top_k(base + beta * lp[None, :], data.matrix[rows], 10, data.tie_rank)
            out[f"half_life={hl},beta={beta}"] = float(recall_at_k(hit_matrix(ranked, tpos), n_targets, 10).mean())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", default="last-day")
    ap.add_argument("--ease-lambda", type=float, default=350.0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    ds = load_dataset(args.data)
    split = split_events(ds.events, args.split)
    valid = grid_recall(ds.products, split.train, split.valid_users, split.valid, args.ease_lambda)
    test = grid_recall(ds.products, train_valid_events(split), split.test_users, split.test, args.ease_lambda)
    chosen = max(valid, key=lambda k: valid[k])
    plain = "half_life=None,beta=0.0"
    result = {
        "data": args.data, "split": args.split, "ease_lambda": args.ease_lambda,
        "users": {"valid": len(split.valid_users), "test": len(split.test_users)},
        "recall@10": {"valid": valid, "test": test},
        "chosen_on_validation": chosen,
        "test_recall@10": {"ease": test[plain], "chosen": test[chosen], "best_on_test": max(test.values())},
        "git_sha": _git_sha(), "machine": machine_info(), "at": datetime.now(UTC).isoformat(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({"chosen_on_validation": chosen, **result["test_recall@10"]}, indent=2))


if __name__ == "__main__":
    main()
