"""Classic baselines behind the ``Scorer`` interface: popularity, ItemKNN, EASE (here) and BM25 (``bm25``).

``Scorer`` itself lives in ``scorer.py`` and is re-exported here. A scorer is fitted on an ``EvalData``
with one parameter dict from its ``param_grid`` and then scores whole catalogue rows for batches of
users. The harness tunes, refits and ranks; scorers only score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys.errors import ConfigError
from recsys.evaluation.bm25 import BM25Scorer
from recsys.evaluation.data import EvalData
from recsys.evaluation.scorer import Scorer, require_fitted
from recsys.features.ease import MAX_DENSE_ITEMS, ease_dense, gram_matrix

__all__ = [
    "Scorer",
    "PopularityScorer",
    "ItemKNNScorer",
    "EASEScorer",
    "BM25Scorer",
    "default_scorers",
    "cosine_item_similarity",
    "keep_top_per_row",
]


class PopularityScorer:
    """Every user gets the same scores: the number of distinct train users per item."""

    name = "popularity"

    def __init__(self) -> None:
        self._pop: np.ndarray | None = None

    def param_grid(self) -> list[dict[str, Any]]:
        return [{}]

    def fit(self, data: EvalData, params: dict[str, Any]) -> None:
        self._pop = np.asarray(data.matrix.sum(axis=0), dtype=np.float32).ravel()

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        pop = require_fitted(self._pop, self.name)
        return np.broadcast_to(pop, (len(user_rows), len(pop))).copy()


def keep_top_per_row(m: sp.csr_matrix, k: int | None, tie_rank: np.ndarray | None = None) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of each row; ``None`` keeps all.

    Equal values are kept in ``tie_rank`` order (lower first; ``EvalData.tie_rank`` is a seeded random
    order of the catalogue); without one, in column order, which is id order for an id-sorted catalogue.
    """
    m = sp.csr_matrix(m)
    counts = np.diff(m.indptr)
    if k is None or len(counts) == 0 or counts.max(initial=0) <= k:
        return m
    row = np.repeat(np.arange(m.shape[0]), counts)
    tie = m.indices if tie_rank is None else np.asarray(tie_rank)[m.indices]
    order = np.lexsort((m.indices, tie, -m.data, row))
    within = np.arange(m.nnz) - m.indptr[row[order]]
    keep = order[within < k]
    return sp.csr_matrix((m.data[keep], (row[keep], m.indices[keep])), shape=m.shape)


def cosine_item_similarity(matrix: sp.spmatrix) -> sp.csr_matrix:
    """Item–item cosine of the binary user × item matrix, zero diagonal."""
    x = sp.csr_matrix(matrix, dtype=np.float32)
    co = sp.csr_matrix(x.T @ x)
    norms = np.sqrt(co.diagonal()).astype(np.float32)
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    sim = sp.csr_matrix(sp.diags(inv) @ co @ sp.diags(inv), dtype=np.float32)
    sim.setdiag(0.0)
    sim.eliminate_zeros()
    return sim


class ItemKNNScorer:
    """User score for item j = sum of cosine(i, j) over history items i that keep j among their k neighbours.

    Neighbours with equal cosine at the k-th place are chosen by the data's seeded random tie order.
    """

    name = "itemknn"

    def __init__(self, neighbours: Sequence[int | None] = (20, 50, 100, 200, None)) -> None:
        self._grid = [{"k": k} for k in neighbours]
        self._sim_for: tuple[sp.csr_matrix, sp.csr_matrix] | None = None  # (data matrix, full similarity)
        self._x: sp.csr_matrix | None = None
        self._sim: sp.csr_matrix | None = None

    def param_grid(self) -> list[dict[str, Any]]:
        return list(self._grid)

    def fit(self, data: EvalData, params: dict[str, Any]) -> None:
        k = params.get("k")
        if k is not None and (not isinstance(k, int) or k < 1):
            raise ConfigError(f"itemknn neighbours k must be a positive int or None (all), got {k!r}")
        if self._sim_for is None or self._sim_for[0] is not data.matrix:  # reuse across the k grid
            self._sim_for = (data.matrix, cosine_item_similarity(data.matrix))
        self._x = data.matrix
        self._sim = keep_top_per_row(self._sim_for[1], k, data.tie_rank)

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        sim, x = require_fitted(self._sim, self.name), require_fitted(self._x, self.name)
        return np.asarray((x[user_rows] @ sim).toarray(), dtype=np.float32)


class EASEScorer:
    """EASE (Steck 2019) from ``recsys.features.ease``: the dense B over interacted items, all weights kept.

    Items without train interactions score 0. The dense inverse costs O(n³) time and 4·n² bytes
    per copy, so more than ``max_items`` interacted items is refused with a reason (an evaluation
    should not silently measure EASE over part of the catalogue; ``ease_weights`` has that fallback).
    The Gram matrix is computed once per data matrix and reused across the λ grid.
    """

    name = "ease"

    def __init__(
        self,
        lambdas: Sequence[float] = (10.0, 50.0, 100.0, 250.0, 500.0, 1000.0),
        max_items: int = MAX_DENSE_ITEMS,
        dtype: type = np.float32,
    ) -> None:
        self._grid = [{"lambda": float(v)} for v in lambdas]
        self.max_items = max_items
        self.dtype = np.dtype(dtype)
        self._gram_for: tuple[sp.csr_matrix, np.ndarray, np.ndarray] | None = None  # (matrix, active, gram)
        self._x: sp.csr_matrix | None = None
        self._b: np.ndarray | None = None
        self._active: np.ndarray | None = None
        self._n_items = 0

    def param_grid(self) -> list[dict[str, Any]]:
        return list(self._grid)

    def fit(self, data: EvalData, params: dict[str, Any]) -> None:
        lam = float(params.get("lambda", 250.0))
        if lam <= 0:
            raise ConfigError(f"EASE lambda must be positive, got {lam}")
        if self._gram_for is None or self._gram_for[0] is not data.matrix:  # reuse across the λ grid
            active = np.flatnonzero(np.diff(sp.csc_matrix(data.matrix).indptr) > 0)
            if len(active) > self.max_items:
                raise ConfigError(
                    f"EASE needs a dense {len(active):,}² inverse but max_items is {self.max_items:,} "
                    f"(≈{len(active) ** 2 * self.dtype.itemsize / 2**30:.1f} GiB per copy); "
                    "raise max_items if memory allows, or use ItemKNN"
                )
            self._gram_for = (data.matrix, active, gram_matrix(data.matrix, active, self.dtype))
        _, active, gram = self._gram_for
        self._b = None  # free the previous B before the next solve
        self._b, self._active, self._n_items = ease_dense(gram, lam), active, data.n_items
        self._x = sp.csr_matrix(data.matrix)[:, active]

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        b, x = require_fitted(self._b, self.name), require_fitted(self._x, self.name)
        out = np.zeros((len(user_rows), self._n_items), dtype=np.float32)
        out[:, self._active] = x[user_rows] @ b
        return out


def default_scorers() -> dict[str, Scorer]:
    """The four classic baselines, keyed by name."""
    scorers: list[Scorer] = [PopularityScorer(), ItemKNNScorer(), EASEScorer(), BM25Scorer()]
    return {s.name: s for s in scorers}

