"""Readable reasons: which past event of the user's history a recommendation is closest to."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys import schema as S
from recsys.artifacts import POSITION, WEIGHT, Artifacts

__all__ = ["because_texts", "VERBS"]

VERBS = {
    "view": "viewed", "click": "clicked", "cart": "added to cart", "purchase": "bought",
    "review": "reviewed", "rating": "rated", "search": "searched for", "impression": "saw",
}


def _short(title: str, limit: int = 60) -> str:
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def because_texts(art: Artifacts, positions: np.ndarray, history: pd.DataFrame) -> list[str | None]:
    """For each recommended position, "because you <verb> <title>" naming the positively weighted history
    item whose vector is most similar (None when the history has no such item)."""
    pos = history[POSITION].to_numpy(np.int64)
    keep = (pos >= 0) & (history[WEIGHT].to_numpy(float) > 0)
    if not keep.any() or len(positions) == 0:
        return [None] * len(positions)
    hpos = pos[keep]
    types = history[S.EVENT_TYPE].to_numpy(dtype=object)[keep]
    best = (art.item_vectors[positions] @ art.item_vectors[hpos].T).argmax(axis=1)
    out: list[str | None] = []
    for b in best.tolist():
        title = str(art.titles[hpos[b]]) or str(art.product_ids[hpos[b]])
        out.append(f"because you {VERBS.get(types[b], 'interacted with')} “{_short(title)}”")
    return out
