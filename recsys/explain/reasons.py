"""Readable reasons: which past event of the user's history a recommendation is closest to, in the
user's language (Chinese or English), optionally naming the interest cluster (`recsys.explain.portraits`) that
history item belongs to: "because you reviewed “X” (your interest: coffee, espresso)"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recsys.artifacts import POSITION, WEIGHT, Artifacts
from recsys.data import schema as S
from recsys.explain.wording import verb

if TYPE_CHECKING:
    from recsys.explain.portraits import InterestCluster

__all__ = ["because_texts"]

def _short(title: str, limit: int = 60) -> str:
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def _sentence(verb_text: str, title: str, interest: str | None, lang: str) -> str:
    if lang == "zh":
        tail = f"（你的兴趣：{interest}）" if interest else ""
        return f"因为你{verb_text}“{_short(title)}”{tail}"
    tail = f" (your interest: {interest})" if interest else ""
    return f"because you {verb_text} “{_short(title)}”{tail}"


def because_texts(
    art: Artifacts,
    positions: np.ndarray,
    history: pd.DataFrame,
    *,
    interests: Sequence[InterestCluster] = (),
    lang: str = "en",
) -> list[str | None]:
    """For each recommended position, "because you <verb> <title>" naming the positively weighted history
    item whose vector is most similar (None when the history has no such item). With `interests`
    (from `recsys.explain.portraits.interests_for`), the reason also names the cluster of that history item when
    the user has more than one; `lang` ("en" or "zh") picks the wording."""
    pos = history[POSITION].to_numpy(np.int64)
    keep = (pos >= 0) & (history[WEIGHT].to_numpy(float) > 0)
    if not keep.any() or len(positions) == 0:
        return [None] * len(positions)
    hpos = pos[keep]
    types = history[S.EVENT_TYPE].to_numpy(dtype=object)[keep]
    best = (art.item_vectors[positions] @ art.item_vectors[hpos].T).argmax(axis=1)
    cluster_of = {p: c.label for c in interests for p in c.positions} if len(interests) > 1 else {}
    out: list[str | None] = []
    for b in best.tolist():
        title = str(art.titles[hpos[b]]) or str(art.product_ids[hpos[b]])
        out.append(_sentence(verb(types[b], lang), title, cluster_of.get(int(hpos[b])), lang))
    return out
