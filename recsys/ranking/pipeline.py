"""The ranking pipeline every answer goes through: candidates → score (the ranker) → select with one
tie-break order and MMR diversity → `Ranked`. Explanations are added by the caller (`recsys.explain`).

Live counters, when the service has them, replace the stored signals for the request (popularity,
trending and the popular candidates), whichever ranker scores it. A ranker that needs history gets a
fallback ranker for requests without positive history (popular, free text, cold users).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from recsys.config import BlendConfig
from recsys.features.items import ItemFeatures
from recsys.features.signals import ItemSignals
from recsys.ranking.base import Filters, Ranked, Ranker, RankRequest
from recsys.ranking.blend import select

__all__ = ["LiveView", "RankingPipeline"]


class LiveView(Protocol):
    """What the pipeline reads of live counters: current signal values and the popular order."""

    def snapshot(self) -> tuple[ItemSignals, np.ndarray]: ...


class RankingPipeline:
    def __init__(self, ranker: Ranker, items: ItemFeatures, config: BlendConfig, *,
                 fallback: Ranker | None = None, live: LiveView | None = None) -> None:
        self.ranker = ranker
        self.fallback = fallback
        self.items = items
        self.config = config
        self.live = live

    @property
    def name(self) -> str:
        return self.ranker.name

    def current_items(self) -> ItemFeatures:
        if self.live is None:
            return self.items
        signals, popular = self.live.snapshot()
        return self.items.with_signals(signals, popular)

    def rank(self, query: np.ndarray | None, *, k: int, filters: Filters = Filters(),
             history_pos: np.ndarray | None = None, history_w: np.ndarray | None = None,
             vector_hits: np.ndarray | None = None) -> Ranked:
        request = RankRequest.of(query, k, filters, history_pos, history_w, vector_hits)
        items = self.current_items()
        ranker = self.ranker
        if ranker.needs_history and len(request.positive_history) == 0 and self.fallback is not None:
            ranker = self.fallback
        scored = ranker.score(request, items)
        order = select(scored.scores, k, items.tiebreak[scored.positions],
                       lambda rows: items.vectors[scored.positions[rows]], self.config.mmr_lambda)
        return Ranked(
            positions=scored.positions[order],
            scores=scored.scores[order],
            parts=scored.parts_of(order),
            sources=scored.sources_of(order),
        )
