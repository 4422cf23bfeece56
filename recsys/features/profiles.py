"""User vectors from text histories: a weighted sum of interacted products' vectors and the user's own
review and search texts.

Weight of one event = event-type weight × rating weight × 0.5 ** (age / half-life).
- Event type: purchases and reviews count more than views; impressions count nothing.
- Rating: a 1-star review has a *negative* weight, so it pushes the profile away from that product
  (and from its own review text) instead of toward similar products; 3 stars is nearly neutral.
- Review text without a rating: its sentiment (`recsys.text.sentiment`: VADER for English, SnowNLP for
  Chinese) decides the sign. Clearly negative text (sentiment ≤ −0.5) weighs like 1★, mildly negative
  text (below −0.05, VADER's neutral band) like 2★; neutral or positive text keeps weight 1 like any
  unrated event, since these models cannot separate a lukewarm 3★ from a 5★ reliably.
- Recency: an event `half_life_days` old counts half as much as one today.
A product vector enters with `item_weight`, the event's own text (review, search query) with
`text_weight`. A user whose positive evidence is empty gets no vector (`has_profile` False), and the
recommender falls back (text → popular) instead of ranking by an "anti-profile".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data import schema as S
from recsys.encoders.base import l2_normalize
from recsys.features.events import PROFILE_TYPE_WEIGHTS
from recsys.features.signals import decay
from recsys.text.sentiment import NEUTRAL_BAND, score_events

__all__ = [
    "ProfileParams", "UserProfiles", "event_weights", "sentiment_stars", "build_profiles", "DEFAULT_RATING_WEIGHTS",
]

DEFAULT_RATING_WEIGHTS: Mapping[int, float] = {1: -1.0, 2: -0.5, 3: 0.1, 4: 0.7, 5: 1.0}


@dataclass(frozen=True)
class ProfileParams:
    half_life_days: float = 365.0
    item_weight: float = 1.0
    text_weight: float = 0.3
    type_weights: Mapping[str, float] = field(default_factory=lambda: dict(PROFILE_TYPE_WEIGHTS))
    rating_weights: Mapping[int, float] = field(default_factory=lambda: dict(DEFAULT_RATING_WEIGHTS))
    #: Let the text sentiment of unrated reviews set their sign (see module docstring).
    text_sentiment: bool = True


@dataclass(frozen=True)
class UserProfiles:
    user_ids: np.ndarray
    vectors: np.ndarray  # (n_users, dim), unit rows; zero rows where has_profile is False
    has_profile: np.ndarray  # bool


def sentiment_stars(sentiment: np.ndarray) -> np.ndarray:
    """The star rating whose weight an unrated review takes: 1 for sentiment ≤ −0.5, 2 for sentiment
    below −NEUTRAL_BAND, 0 (meaning "no rating weight") otherwise, including NaN."""
    s = np.asarray(sentiment, dtype=float)
    return np.where(s <= -0.5, 1, np.where(s < -NEUTRAL_BAND, 2, 0))


def event_weights(
    events: pd.DataFrame, as_of: pd.Timestamp, params: ProfileParams, *, sentiment: np.ndarray | None = None
) -> np.ndarray:
    """Signed weight of each event row (see module docstring). `sentiment` is the per-row text
    sentiment (NaN when none); when not given, unrated review texts are scored here."""
    tw = events[S.EVENT_TYPE].map(params.type_weights).fillna(0.0).to_numpy(dtype=float)
    ratings = events[S.RATING].to_numpy(dtype=float)
    if params.text_sentiment and len(events):
        if sentiment is None:
            sentiment = score_events(events, types=("review",))["sentiment"].to_numpy(float)
        stars = np.where(np.isnan(ratings), sentiment_stars(sentiment), 0)
        ratings = np.where(stars > 0, stars, ratings)
    rounded = np.clip(np.nan_to_num(np.round(ratings), nan=5.0), S.RATING_MIN, S.RATING_MAX).astype(int)
    rw = np.array([params.rating_weights.get(int(r), 1.0) for r in range(6)])[rounded]
    rw = np.where(np.isnan(ratings), 1.0, rw)
    age = ((as_of - events[S.TIMESTAMP]).dt.total_seconds() / 86400.0).to_numpy()
    return tw * rw * decay(age, params.half_life_days)


def build_profiles(
    events: pd.DataFrame,
    item_pos: np.ndarray,
    item_vectors: np.ndarray,
    text_vectors: np.ndarray,
    has_text: np.ndarray,
    as_of: pd.Timestamp,
    params: ProfileParams,
    *,
    weights: np.ndarray | None = None,
) -> UserProfiles:
    """Events are rows; `item_pos` (−1 when product-less) and `text_vectors`/`has_text` align with them.
    `weights` are the rows' `event_weights` when the caller has them already."""
    dim = item_vectors.shape[1]
    users, user_ids = pd.factorize(events[S.USER_ID], sort=True)
    n_users = len(user_ids)
    if n_users == 0:
        return UserProfiles(np.array([], dtype=object), np.zeros((0, dim), np.float32), np.zeros(0, bool))
    w = event_weights(events, as_of, params) if weights is None else np.asarray(weights, float)
    # Only a user's weights relative to each other shape the direction. Dividing them by the user's
    # largest |weight| keeps the sum clear of float32 underflow and of the no-vector threshold below,
    # however long before `as_of` the history lies (online, ages run to the request time).
    top = np.zeros(n_users)
    np.maximum.at(top, users, np.abs(w))
    w = np.divide(w, top[users], out=np.zeros_like(w), where=top[users] > 0)
    contrib = np.zeros((len(events), dim), dtype=np.float32)
    on_item = item_pos >= 0
    contrib[on_item] += params.item_weight * item_vectors[item_pos[on_item]]
    contrib[has_text] += params.text_weight * text_vectors[has_text]
    wmat = sp.csr_matrix((w, (users, np.arange(len(events)))), shape=(n_users, len(events)))
    summed = np.asarray(wmat @ contrib, dtype=np.float32)
    positive = np.bincount(users, weights=np.maximum(w, 0.0), minlength=n_users)
    has = (positive > 0) & (np.linalg.norm(summed, axis=1) > 1e-9)
    vectors = np.where(has[:, None], l2_normalize(summed), 0.0).astype(np.float32)
    return UserProfiles(np.asarray(user_ids, dtype=object), vectors, has)
