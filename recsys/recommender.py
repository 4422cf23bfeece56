"""The `Recommender` facade: for_user, similar_items, for_text, popular — with a named fallback chain.

Fallback chain for a user: personal profile → the free texts passed with the request → popular.
Unknown users raise `UnknownUserError` unless `on_unknown="fallback"` is asked for (the HTTP API
answers 404 with a hint to use cold-start texts, as Personalize and Gorse do).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from recsys.artifacts import POSITION, WEIGHT, Artifacts, load_artifacts
from recsys.config import BlendConfig
from recsys.encoders import Encoder, make_encoder, query_engine
from recsys.errors import IndexMismatchError, UnknownItemError, UnknownUserError
from recsys.explain.portraits import CatalogueTerms, interests_for, version_terms
from recsys.explain.reasons import because_texts
from recsys.index.base import VectorIndex
from recsys.ranking.base import Filters, Ranked
from recsys.ranking.factory import make_ranker
from recsys.ranking.pipeline import LiveView

__all__ = ["Recommender", "Recommendation", "RecommendationList", "Strategy"]

Strategy = Literal["personal", "text", "item", "popular"]
log = logging.getLogger("recsys.recommender")


@dataclass(frozen=True)
class Recommendation:
    product_id: str
    title: str
    score: float
    parts: dict[str, float]
    sources: tuple[str, ...] = ()
    because: str | None = None


@dataclass(frozen=True)
class RecommendationList:
    results: list[Recommendation]
    strategy: Strategy
    config_id: str
    index_version: str
    fallback: str | None = None
    user_id: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class Recommender:
    """Answers lookups from one loaded index version under one blend config.

    `live` (the service's live counters) replaces the stored popularity and trending for every ranker.
    """

    def __init__(self, artifacts: Artifacts, *, config: BlendConfig | None = None, encoder: Encoder | None = None,
                 live: LiveView | None = None, terms: CatalogueTerms | None = None,
                 text_index: VectorIndex | None = None) -> None:
        self.art = artifacts
        self.config = config or artifacts.config
        self.live = live
        self.ranker = make_ranker(artifacts.features, artifacts.index, self.config, model=artifacts.ltr, live=live)
        # Item-to-item queries search with the parameters the build tuned for them (the same ranker otherwise).
        item_index = artifacts.index.with_search_params(artifacts.manifest.index.item_search_params)
        self.item_ranker = self.ranker if item_index is artifacts.index else make_ranker(
            artifacts.features, item_index, self.config, model=artifacts.ltr, live=live)
        # Free-text queries may search through another view of the same index (the service's `MemoSearch`,
        # which remembers the searches of repeated texts); the answers are the index's own.
        self.text_index = text_index
        self.text_ranker = self.ranker if text_index is None else make_ranker(
            artifacts.features, text_index, self.config, model=artifacts.ltr, live=live)
        self._encoder = encoder
        self._terms = terms

    @property
    def terms(self) -> CatalogueTerms:
        """The catalogue's label terms for interest portraits, tokenized once per loaded version."""
        if self._terms is None:
            self._terms = version_terms(self.art)
        return self._terms

    @classmethod
    def load(cls, index_dir: str | Path, *, config: BlendConfig | None = None, mmap: bool = False) -> Recommender:
        return cls(load_artifacts(index_dir, config=config, mmap=mmap), config=config)

    def with_config(self, config: BlendConfig) -> Recommender:
        """The same artifacts and encoder under another blend config (an A/B arm, a tuned config)."""
        return Recommender(self.art, config=config, encoder=self._encoder, live=self.live, terms=self.terms,
                           text_index=self.text_index)

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = make_encoder(self.art.manifest.encoder.name,
                                         engine=query_engine(self.art.manifest.encoder.engine))
        enc, info = self._encoder, self.art.manifest.encoder
        if enc.name != info.name or enc.dim != info.dim:
            raise IndexMismatchError(
                f"encoder {enc.name!r} ({enc.dim}-d) cannot query an index built with {info.name!r} ({info.dim}-d); "
                f"rebuild with `recsys build --encoder {enc.name}` or query with {info.name!r}"
            )
        return enc

    # -- public lookups -------------------------------------------------------------------------
    def for_user(
        self,
        user_id: str,
        k: int = 10,
        *,
        filters: Filters = Filters(),
        exclude_seen: bool = True,
        texts: Sequence[str] = (),
        on_unknown: Literal["raise", "fallback"] = "raise",
        explain: bool = True,
    ) -> RecommendationList:
        if not self.art.knows_user(user_id):
            if on_unknown == "raise" and not texts:
                raise UnknownUserError(
                    f"user {user_id!r} has no history in index {self.art.version}; for cold start pass free "
                    "texts (`recsys query`, POST /v1/recommendations) or ask for the popular fallback"
                )
            return self._fallback(texts, k, filters, user_id)
        pos, w = self.art.user_positions(user_id)
        return self._for_positions(user_id, pos, w, self.art.user_vector(user_id), k, filters=filters,
                                   exclude_seen=exclude_seen, texts=texts,
                                   history=(lambda: self.art.user_history(user_id)) if explain else None,
                                   vector_hits=self.art.user_hits(user_id))

    def for_history(
        self,
        user_id: str,
        hist: pd.DataFrame,
        vec: np.ndarray | None,
        k: int = 10,
        *,
        filters: Filters = Filters(),
        exclude_seen: bool = True,
        texts: Sequence[str] = (),
        explain: bool = True,
        vector_hits: np.ndarray | None = None,
    ) -> RecommendationList:
        """Rank for a user from explicit history rows (with `position` and `weight`) and profile vector.

        `for_user` passes the indexed history (and the nearest items the build searched for the stored
        vector, `vector_hits`); the service passes one merged with events ingested since, searched live.
        `explain=False` skips the "because you …" reasons (they cost a similarity pass over the history).
        """
        return self._for_positions(user_id, hist[POSITION].to_numpy(np.int64), hist[WEIGHT].to_numpy(float), vec, k,
                                   filters=filters, exclude_seen=exclude_seen, texts=texts,
                                   history=(lambda: hist) if explain else None, vector_hits=vector_hits)

    def _for_positions(self, user_id: str, pos: np.ndarray, w: np.ndarray, vec: np.ndarray | None, k: int, *,
                       filters: Filters, exclude_seen: bool, texts: Sequence[str],
                       history: Callable[[], pd.DataFrame] | None, vector_hits: np.ndarray | None,
                       ) -> RecommendationList:
        """`for_history` from the two history columns ranking reads; `history` gives the rows for the
        "because you …" reasons (None: no reasons, and no DataFrame is built)."""
        if exclude_seen:
            filters = filters.excluding(pos)
        if vec is None:
            return self._fallback(texts, k, filters, user_id, history=(pos, w))
        ranked = self.ranker.rank(vec, k=k, filters=filters, history_pos=pos, history_w=w, vector_hits=vector_hits)
        because = None
        if history is not None:  # the reason names the user's interest cluster (recsys.explain.portraits)
            hist = history()
            interests, lang = interests_for(self.art, hist, terms=self.terms)
            because = because_texts(self.art, ranked.positions, hist, interests=interests, lang=lang)
        return self._answer(ranked, "personal", None, user_id, because)

    def similar_items(self, product_id: str, k: int = 10, *, filters: Filters = Filters()) -> RecommendationList:
        pos = self.art.product_position(product_id)
        if pos is None:
            raise UnknownItemError(f"product {product_id!r} is not in index {self.art.version}'s catalogue")
        filters = filters.excluding([pos])
        ranked = self.item_ranker.rank(
            self.art.item_vectors[pos], k=k, filters=filters, history_pos=np.array([pos]), history_w=np.ones(1)
        )
        return self._answer(ranked, "item", None, None)

    def for_text(self, texts: Sequence[str], k: int = 10, *, filters: Filters = Filters()) -> RecommendationList:
        query = self.text_vector(texts)
        if query is None:
            return self._answer(self.ranker.rank(None, k=k, filters=filters), "popular", "popular", None)
        return self._answer(self.text_ranker.rank(query, k=k, filters=filters), "text", None, None)

    def popular(self, k: int = 10, *, filters: Filters = Filters()) -> RecommendationList:
        return self._answer(self.ranker.rank(None, k=k, filters=filters), "popular", None, None)

    def text_vector(self, texts: Sequence[str]) -> np.ndarray | None:
        """Mean of the encoded non-empty texts (query side), unit length; None when all are empty."""
        clean = [t.strip() for t in texts if isinstance(t, str) and t.strip()]
        if not clean:
            return None
        v = self.encoder.encode(clean, kind="query").mean(axis=0)
        n = float(np.linalg.norm(v))
        return (v / n).astype(np.float32) if n > 0 else None

    # -- helpers ----------------------------------------------------------------------------------
    def _fallback(self, texts, k, filters, user_id, history=None) -> RecommendationList:
        hp, hw = history if history is not None else (None, None)
        query = self.text_vector(texts)
        if query is not None:
            ranked = self.text_ranker.rank(query, k=k, filters=filters, history_pos=hp, history_w=hw)
            return self._answer(ranked, "text", "text", user_id)
        ranked = self.ranker.rank(None, k=k, filters=filters, history_pos=hp, history_w=hw)
        return self._answer(ranked, "popular", "popular", user_id)

    def _answer(self, ranked: Ranked, strategy: Strategy, fallback, user_id, because=None) -> RecommendationList:
        titles, ids = self.art.titles, self.art.product_ids
        finite = _finite_rows(ranked)
        if not finite.all():  # bounded weights keep scores finite; never answer a non-finite number anyway
            log.warning("dropped %d result(s) with a non-finite score or part (config %s, index %s)",
                        int((~finite).sum()), self.config.id, self.art.version)
        scores = np.round(np.asarray(ranked.scores, np.float64), 6).tolist()
        parts = {f: np.round(np.asarray(v, np.float64), 6).tolist() for f, v in ranked.parts.items()}
        results = [
            Recommendation(
                product_id=str(ids[p]),
                title=str(titles[p]),
                score=scores[i],
                parts={f: v[i] for f, v in parts.items()},
                sources=ranked.sources[i],
                because=None if because is None else because[i],
            )
            for i, p in enumerate(ranked.positions.tolist()) if finite[i]
        ]
        return RecommendationList(results, strategy, self.config.id, self.art.version, fallback, user_id)


def _finite_rows(ranked: Ranked) -> np.ndarray:
    """Which results have a finite score and finite parts."""
    ok = np.isfinite(np.asarray(ranked.scores, dtype=np.float64))
    for values in ranked.parts.values():
        ok &= np.isfinite(np.asarray(values, dtype=np.float64))
    return ok
