"""Accuracy of text sentiment against star ratings on real reviews (the Gift Cards sample).

    python benchmarks/bench_sentiment.py [--data data/amazon2018_gift_cards] [--out benchmarks/results/sentiment.json]

Reviews with a rating and text: 4–5★ are positive, 1–2★ negative, 3★ left out of the binary task.
The scorer is the one the ranker uses for unrated reviews (`recsys.text.sentiment.default_scorer`: VADER for
English, SnowNLP for Chinese; these reviews are all English). A review is predicted negative when its
score is below −0.05 (VADER's neutral band, the rule `recsys.features.profiles` uses to flip a review's sign).
Reported: accuracy, balanced accuracy (mean of the two class recalls; the data is 99% positive, so
plain accuracy mostly measures the majority), both with a seeded 95% bootstrap CI, the always-positive
baseline, and Spearman's rho of score vs stars over all rated reviews (1–5★). Rows and distinct texts
are reported separately: the same review text often appears on several items of one user.
There is no rated Chinese review data here; SnowNLP is checked on a hand-labelled set in the tests.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from recsys.cli.evaluate import _git_sha, machine_info
from recsys.data import schema as S
from recsys.text.sentiment import NEUTRAL_BAND, default_scorer

ROOT = Path(__file__).resolve().parents[1]


def binary_metrics(y_pos: np.ndarray, pred_pos: np.ndarray, *, n_boot: int = 1000, seed: int = 0) -> dict:
    """Accuracy and balanced accuracy with percentile bootstrap CIs (resampling reviews)."""

    def both(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
        acc = float((y == p).mean())
        recalls = [float((p[y == c] == c).mean()) for c in (True, False) if (y == c).any()]
        return acc, float(np.mean(recalls))

    acc, bal = both(y_pos, pred_pos)
    rng = np.random.default_rng(seed)
    boots = np.array([both(y_pos[i], pred_pos[i]) for i in rng.integers(0, len(y_pos), (n_boot, len(y_pos)))])
    lo, hi = np.percentile(boots, [2.5, 97.5], axis=0)
    return {
        "n": int(len(y_pos)), "n_positive": int(y_pos.sum()), "n_negative": int((~y_pos).sum()),
        "accuracy": round(acc, 4), "accuracy_ci95": [round(lo[0], 4), round(hi[0], 4)],
        "balanced_accuracy": round(bal, 4), "balanced_accuracy_ci95": [round(lo[1], 4), round(hi[1], 4)],
        "recall_positive": round(float(pred_pos[y_pos].mean()), 4),
        "recall_negative": round(float((~pred_pos[~y_pos]).mean()), 4) if (~y_pos).any() else None,
        "always_positive_accuracy": round(float(y_pos.mean()), 4),
    }


def evaluate(reviews: pd.DataFrame, scores: np.ndarray) -> dict:
    stars = reviews[S.RATING].to_numpy(float)
    binary = stars != 3
    rho = spearmanr(scores, stars).statistic
    return {**binary_metrics(stars[binary] >= 4, scores[binary] >= -NEUTRAL_BAND),
            "spearman_vs_stars": round(float(rho), 4), "n_rated": int(len(stars))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "amazon2018_gift_cards")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "sentiment-gift-cards.json")
    args = ap.parse_args()

    events = pd.read_parquet(args.data / S.EVENTS_FILE)
    text = events[S.TEXT].fillna("").astype(str).str.strip()
    reviews = events[events[S.RATING].notna() & (text != "")].assign(**{S.TEXT: text})
    scorer = default_scorer()
    t0 = time.perf_counter()
    uniq = reviews[S.TEXT].drop_duplicates().tolist()
    by_text = dict(zip(uniq, scorer.score(uniq), strict=True))
    seconds = time.perf_counter() - t0
    scores = reviews[S.TEXT].map(by_text).to_numpy(float)
    distinct = reviews.assign(_s=scores).drop_duplicates([S.TEXT, S.RATING])
    result = {
        "benchmark": "sentiment-vs-stars", "data": args.data.name, "scorer": scorer.name,
        "languages": pd.Series(scorer.languages(uniq)).value_counts().to_dict(),
        "negative_below": -NEUTRAL_BAND,
        "rows": evaluate(reviews, scores),
        "distinct_texts": evaluate(distinct, distinct["_s"].to_numpy(float)),
        "texts_per_s": round(len(uniq) / max(seconds, 1e-9), 1),
        "git_sha": _git_sha(), "machine": machine_info(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "note": "CPU shared with other jobs; texts_per_s is indicative only",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("scorer", "rows", "distinct_texts", "texts_per_s")}, indent=2))


if __name__ == "__main__":
    main()
