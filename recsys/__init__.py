"""recsys — an embedding-based recommendation engine for e-commerce.

Typical use::

    from recsys import Recommender
    rec = Recommender.load("indexes/gift_cards")
    rec.for_user("A1B2C3", k=10)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
from recsys.lazy import lazy_names

if TYPE_CHECKING:
    from recsys.config import BlendConfig, BlendWeights, ProfileConfig, load_config
    from recsys.data.dataset import Dataset, load_dataset, make_dataset
    from recsys.encoders import Encoder, HashingEncoder, make_encoder
    from recsys.ranking.base import Filters
    from recsys.recommender import Recommendation, RecommendationList, Recommender

__version__ = "0.1.0"

__all__ = [
    "ArtifactError", "BlendConfig", "BlendWeights", "ConfigError", "DataValidationError", "Dataset",
    "Encoder", "EncoderError", "Filters", "HashingEncoder", "IndexMismatchError", "NotFoundError",
    "Problem", "ProfileConfig", "Recommendation", "RecommendationList", "Recommender", "RecsysError",
    "UnknownItemError", "UnknownUserError", "load_config", "load_dataset", "make_dataset", "make_encoder",
]

#: Names imported on first use (PEP 562): importing any `recsys.*` module runs this file, and the
#: recommender's libraries (pandas, scipy, faiss, numba) cost ~100 MB in a process that needs none of them
#: (the `recsys serve --workers N` supervisor, which only starts workers).
_LAZY = {
    **dict.fromkeys(("BlendConfig", "BlendWeights", "ProfileConfig", "load_config"), "recsys.config"),
    **dict.fromkeys(("Dataset", "load_dataset", "make_dataset"), "recsys.data.dataset"),
    **dict.fromkeys(("Encoder", "HashingEncoder", "make_encoder"), "recsys.encoders"),
    "Filters": "recsys.ranking.base",
    **dict.fromkeys(("Recommendation", "RecommendationList", "Recommender"), "recsys.recommender"),
}


__getattr__, __dir__ = lazy_names("recsys", _LAZY, globals())
