"""A readable interest portrait of one user: the categories, terms and past items that drive their
profile vector, with weights. Pure: history rows and vectors in, a plain dict out.

An item's `weight` is its signed event weight (negative for a disliked item, which pushes the profile
away); its `contribution` is weight × cosine(item, profile), its share of the profile's length along the
profile direction: large for what drives the vector, positive too for a dislike that shaped it.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pandas as pd

from recsys import schema as S
from recsys.artifacts import POSITION, WEIGHT, Artifacts
from recsys.explain import VERBS

__all__ = ["portrait"]

_TOKEN = re.compile(r"[^\W\d_][\w'-]{2,}", re.UNICODE)
_STOP = frozenset(
    "the and for with this that from are was were you your have has had not but all any can our out "
    "its it's they them their there what when which who will would very just than then into over more "
    "most some such only also too get got one two new use used great good love like".split()
)


def _terms(texts: list[str], weights: list[float], top: int) -> list[dict[str, object]]:
    score: Counter[str] = Counter()
    for text, w in zip(texts, weights, strict=True):
        for tok in set(t.lower() for t in _TOKEN.findall(text)):
            if tok not in _STOP:
                score[tok] += w
    best = [(t, s) for t, s in score.most_common(top) if s > 0]
    total = sum(s for _, s in best) or 1.0
    return [{"term": t, "weight": round(s / total, 4)} for t, s in best]


def portrait(user_id: str, history: pd.DataFrame, vector: np.ndarray | None, art: Artifacts,
             *, top: int = 10) -> dict[str, object]:
    """History rows carry canonical columns plus `position` and `weight` (see `recsys.artifacts`)."""
    pos = history[POSITION].to_numpy(np.int64)
    w = history[WEIGHT].to_numpy(float)
    on_item = pos >= 0
    titles = art.products[S.TITLE].to_numpy(dtype=object)
    cats = art.products[S.CATEGORY].to_numpy(dtype=object)
    ids = art.products[S.PRODUCT_ID].to_numpy(dtype=object)

    items = pd.DataFrame({"p": pos[on_item], "w": w[on_item], "t": history[S.EVENT_TYPE].to_numpy()[on_item]})
    agg = items.groupby("p", sort=False).agg(w=("w", "sum"), t=("t", lambda s: sorted(set(s))))
    cos = (art.item_vectors[agg.index.to_numpy()] @ vector) if vector is not None and len(agg) else np.zeros(len(agg))
    agg = agg.assign(c=agg["w"].to_numpy() * cos).sort_values("w", key=np.abs, ascending=False)
    past = [
        {"product_id": str(ids[p]), "title": str(titles[p]), "category": str(cats[p]),
         "events": [VERBS.get(t, t) for t in row.t], "weight": round(float(row.w), 4),
         "contribution": round(float(row.c), 4)}
        for p, row in zip(agg.index.tolist(), agg.itertuples(), strict=True)
    ][:top]

    positive = on_item & (w > 0)
    cat_w: Counter[str] = Counter()
    for c, x in zip(cats[pos[positive]].tolist(), w[positive].tolist(), strict=True):
        cat_w[str(c) or "(none)"] += x
    total = sum(cat_w.values()) or 1.0
    categories = [{"category": c, "weight": round(x / total, 4)} for c, x in cat_w.most_common(top)]

    texts = [str(titles[p]) for p in pos[positive]]
    tw = w[positive].tolist()
    own = history[S.TEXT].fillna("").astype(str).to_numpy()
    has_own = (own != "") & (w > 0)
    terms = _terms(texts + own[has_own].tolist(), tw + w[has_own].tolist(), top)
    searches = [{"text": t, "weight": round(float(x), 4)} for t, x in
                zip(own[(pos < 0) & (own != "")].tolist(), w[(pos < 0) & (own != "")].tolist(), strict=True)][:top]
    return {
        "user_id": user_id,
        "has_profile": vector is not None,
        "n_events": int(len(history)),
        "categories": categories,
        "terms": terms,
        "items": past,
        "searches": searches,
    }
