"""The one feature computation of a time slice: per-event features, item features and user profiles.

`compute_features` is what the build stores in an index version and what the evaluation's exact blend
scores, so both see identical numbers; the learned ranker's training calls `item_features` on its input
slice; online profiles call `event_weights` and `build_profiles` on a user's merged history. Sentiment is
scored once per row here and shared by the item signals and the profile weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.data import schema as S
from recsys.features.events import EventFeatures, event_features, profile_sentiment
from recsys.features.ids import IdMap
from recsys.features.items import ItemFeatures, item_features
from recsys.features.profiles import ProfileParams, UserProfiles, build_profiles, event_weights
from recsys.features.signals import SignalParams

__all__ = ["FeatureParams", "FeatureSet", "compute_features", "text_rows"]


@dataclass(frozen=True)
class FeatureParams:
    signals: SignalParams = SignalParams()
    profile: ProfileParams = ProfileParams()
    #: Seed of the random tie-break order of items (see `recsys.features.items.tiebreak_ranks`).
    seed: int = 0


@dataclass(frozen=True)
class FeatureSet:
    items: ItemFeatures
    events: EventFeatures
    weights: np.ndarray  # signed profile weight per event row
    profiles: UserProfiles


def text_rows(events: pd.DataFrame, text_vectors: np.ndarray, text_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per event row: its text's vector (zeros when none) and whether it has one; `text_row[i]` is the
    row of event i's text in `text_vectors` (−1 when the event has no text)."""
    has = np.asarray(text_row) >= 0
    out = np.zeros((len(events), text_vectors.shape[1] if text_vectors.ndim == 2 else 0), np.float32)
    if has.any():
        out[has] = text_vectors[text_row[has]]
    return out, has


def compute_features(
    products: pd.DataFrame, events: pd.DataFrame, item_vectors: np.ndarray, event_text_vectors: np.ndarray,
    has_text: np.ndarray, as_of: pd.Timestamp, params: FeatureParams = FeatureParams(),
    *, items: IdMap | None = None,
) -> FeatureSet:
    """Features of `events` (one time slice, nothing after `as_of`) over the catalogue `products`."""
    ids = items if items is not None else IdMap.of(products[S.PRODUCT_ID])
    ev = event_features(events, ids)
    weights = event_weights(events, as_of, params.profile, sentiment=profile_sentiment(events, ev.sentiment))
    item_feats = item_features(products, events, ev, item_vectors, as_of, params.signals, seed=params.seed)
    profiles = build_profiles(events, ev.item_pos, item_vectors, event_text_vectors, has_text, as_of,
                              params.profile, weights=weights)
    return FeatureSet(item_feats, ev, weights, profiles)
