"""The one place a ranker is chosen: the learned ranker when the version holds a model, else the blend."""

from __future__ import annotations

from typing import TYPE_CHECKING

from recsys.config import BlendConfig
from recsys.features.items import ItemFeatures
from recsys.index import VectorIndex
from recsys.ranking.blend_ranker import BlendRanker
from recsys.ranking.pipeline import LiveView, RankingPipeline

if TYPE_CHECKING:
    from recsys.ranking.ltr.model import LearnedModel

__all__ = ["make_ranker"]


def make_ranker(items: ItemFeatures, index: VectorIndex, config: BlendConfig, *,
                model: LearnedModel | None = None, live: LiveView | None = None) -> RankingPipeline:
    """The pipeline that serves a version under `config` (with live counters when given)."""
    blend = BlendRanker(index, config)
    if model is None:
        return RankingPipeline(blend, items, config, live=live)
    from recsys.ranking.ltr.ranker import LearnedRanker  # lightgbm loads only for versions with a model

    return RankingPipeline(LearnedRanker(model, index), items, config, fallback=blend, live=live)
