"""Guarded coordinate ascent: the tuning loop shared by the build's ranker choice and `recsys evaluate`.

A full grid over several weights takes thousands of fits; coordinate ascent (vary one parameter over its
candidate values holding the others, keep the best, repeat) finds a good point in tens. A move is
accepted only when it beats the current point by a paired z-score of at least `min_z` over users
(default 2, about 98% one-sided): on small validation sets unguarded ascent chases noise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["coordinate_ascent", "paired_z"]


def paired_z(new: np.ndarray, old: np.ndarray) -> float:
    """z-score of the mean per-user difference (new − old); +inf when they differ without variance."""
    d = np.asarray(new, float) - np.asarray(old, float)
    d = d[~np.isnan(d)]
    if len(d) == 0 or not d.any():
        return 0.0
    sd = float(d.std(ddof=1)) if len(d) > 1 else 0.0
    return float(d.mean() / (sd / np.sqrt(len(d)))) if sd > 0 else float(np.sign(d.mean()) * np.inf)


def coordinate_ascent(
    evaluate: Callable[[dict[str, Any]], np.ndarray],
    start: dict[str, Any],
    space: Mapping[str, Sequence[Any]],
    rounds: int = 2,
    min_z: float = 2.0,
    on_trial: Callable[[dict[str, Any], float], None] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Maximise the mean of `evaluate` (per-user values) one coordinate at a time. A candidate replaces
    the current point only if its paired z-score against it is ≥ `min_z`. Calls are memoised."""
    seen: dict[tuple, np.ndarray] = {}
    trials: list[dict[str, Any]] = []

    def score(p: dict[str, Any]) -> np.ndarray:
        key = tuple(sorted(p.items()))
        if key not in seen:
            seen[key] = np.asarray(evaluate(dict(p)), float)
            value = float(np.nanmean(seen[key])) if len(seen[key]) else 0.0
            trials.append({"params": dict(p), "value": value})
            if on_trial:
                on_trial(p, value)
        return seen[key]

    best = dict(start)
    best_values = score(best)
    for _ in range(rounds):
        improved = False
        for name, values in space.items():
            for v in values:
                cand = best | {name: v}
                vals = score(cand)
                if np.nanmean(vals) > np.nanmean(best_values) and paired_z(vals, best_values) >= min_z:
                    best, best_values, improved = cand, vals, True
        if not improved:
            break
    return best, trials
