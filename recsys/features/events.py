"""Per-event features computed once and shared by every consumer: catalogue position, review sentiment,
signed profile weight.

The two event-type weight tables live here and nowhere else:
- `EVENT_WEIGHTS` counts behaviour toward an item (popularity, co-occurrence, positive history): a search
  or an impression says nothing about the item it names;
- `PROFILE_TYPE_WEIGHTS` weighs what moves a user's profile vector: a search query's text does describe
  the user's interest, so searches count there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd

from recsys.data import schema as S
from recsys.features.ids import IdMap
from recsys.text.sentiment import score_events

__all__ = ["EVENT_WEIGHTS", "PROFILE_TYPE_WEIGHTS", "EventFeatures", "event_features", "interaction_mask",
           "positive_mask", "profile_sentiment"]

EVENT_WEIGHTS: Mapping[str, float] = MappingProxyType({
    "view": 0.5, "click": 0.75, "cart": 1.5, "purchase": 2.0,
    "review": 1.5, "rating": 1.0, "search": 0.0, "impression": 0.0,
})
PROFILE_TYPE_WEIGHTS: Mapping[str, float] = MappingProxyType({**EVENT_WEIGHTS, "search": 1.0})


@dataclass(frozen=True)
class EventFeatures:
    """Arrays aligned with the rows of one events frame."""

    item_pos: np.ndarray  # catalogue row, −1 for product-less events and unknown products
    sentiment: np.ndarray  # review sentiment in [-1, 1] (rating first, else text), NaN when none

    def __len__(self) -> int:
        return len(self.item_pos)


def event_features(events: pd.DataFrame, items: IdMap, *, sentiment: np.ndarray | None = None) -> EventFeatures:
    """Positions and sentiment of `events`; the sentiment models run once per distinct text here."""
    pos = items.rows(events[S.PRODUCT_ID])
    if sentiment is None:
        sentiment = score_events(events)["sentiment"].to_numpy(float) if len(events) else np.zeros(0)
    return EventFeatures(pos, np.asarray(sentiment, dtype=float))


def profile_sentiment(events: pd.DataFrame, sentiment: np.ndarray) -> np.ndarray:
    """The sentiment a profile weight may take its sign from: reviews only (NaN on other rows)."""
    is_review = (events[S.EVENT_TYPE] == "review").to_numpy()
    return np.where(is_review, sentiment, np.nan)


def interaction_mask(events: pd.DataFrame, item_pos: np.ndarray,
                     weights: Mapping[str, float] = EVENT_WEIGHTS) -> np.ndarray:
    """Rows that count as behaviour toward a catalogue item (a known item and a positive type weight)."""
    return (item_pos >= 0) & (events[S.EVENT_TYPE].map(dict(weights)).fillna(0.0).to_numpy(float) > 0)


def positive_mask(events: pd.DataFrame, item_pos: np.ndarray,
                  weights: Mapping[str, float] = EVENT_WEIGHTS) -> np.ndarray:
    """Interactions that are positive evidence: not a rating below 3 stars."""
    rating = events[S.RATING].to_numpy(dtype=float)
    return interaction_mask(events, item_pos, weights) & ~(rating < 3)
