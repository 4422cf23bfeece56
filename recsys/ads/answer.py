"""Ads beside organic results: one function the CLI and the HTTP service share.

The organic answer is computed first; ads are then matched to the same context (user profile, free
text or product page) and may never advertise a product the organic list already shows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from recsys.ads.matcher import AdAnswer, AdMatcher, Context
from recsys.recommender import RecommendationList, Recommender

__all__ = ["ads_beside", "context_of"]


def context_of(answer: RecommendationList) -> Context:
    """The ad context that matches how the organic answer was made."""
    if answer.strategy == "item":
        return "item"
    if answer.strategy == "personal":
        return "user"
    return "text"


def ads_beside(matcher: AdMatcher, rec: Recommender, answer: RecommendationList, *, n_ads: int,
               user_vector: np.ndarray | None = None, texts: Sequence[str] = (), item_id: str | None = None,
               history_pos: np.ndarray | None = None, now: pd.Timestamp | None = None) -> AdAnswer:
    """Match up to `n_ads` ads for the context `answer` was computed in (never one of its products).

    The query vector is the user's profile when the answer is personal, the product's vector on a
    product page, otherwise the encoded texts; a popular fallback with no texts gets no ads (there is
    nothing to be relevant to, and the relevance floor exists to stop bid-only wins).
    """
    organic = [r.product_id for r in answer.results]
    context = context_of(answer)
    detail = ""
    query: np.ndarray | None
    if context == "user":
        query = user_vector
        if history_pos is not None:  # like organic results, ads do not push what the user already has
            organic.extend(str(rec.art.product_ids[p]) for p in np.unique(history_pos[history_pos >= 0]))
    elif context == "item" and item_id is not None:
        pos = rec.art.product_position(item_id)
        query = None if pos is None else rec.art.item_vectors[pos]
        detail = "" if pos is None else str(rec.art.titles[pos])
        organic.append(item_id)
    else:
        query = rec.text_vector(texts)
        detail = " ".join(t.strip() for t in texts if isinstance(t, str) and t.strip())
    if n_ads <= 0:
        return AdAnswer([], {}, matcher.ctr.describe())
    return matcher.match(query, context=context, detail=detail, user_id=answer.user_id, organic=organic,
                         history_pos=history_pos if context == "user" else None, now=now, k=n_ads)
