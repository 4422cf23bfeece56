"""recsys — an embedding-based recommendation engine for e-commerce.

Typical use::

    from recsys import Recommender
    rec = Recommender.load("indexes/gift_cards")
    rec.for_user("A1B2C3", k=10)
"""

from __future__ import annotations

from recsys.config import BlendConfig, BlendWeights, ProfileConfig, load_config
from recsys.data.dataset import Dataset, load_dataset, make_dataset
from recsys.encoders import Encoder, HashingEncoder, make_encoder
from recsys.errors import (
    ArtifactError,
    ConfigError,
    DataValidationError,
    EncoderError,
    IndexMismatchError,
    NotFoundError,
    Problem,
    RecsysError,
    UnknownItemError,
    UnknownUserError,
)
from recsys.ranking.base import Filters
from recsys.recommender import Recommendation, RecommendationList, Recommender

__version__ = "0.1.0"

__all__ = [
    "ArtifactError", "BlendConfig", "BlendWeights", "ConfigError", "DataValidationError", "Dataset",
    "Encoder", "EncoderError", "Filters", "HashingEncoder", "IndexMismatchError", "NotFoundError",
    "Problem", "ProfileConfig", "Recommendation", "RecommendationList", "Recommender", "RecsysError",
    "UnknownItemError", "UnknownUserError", "load_config", "load_dataset", "make_dataset", "make_encoder",
]
