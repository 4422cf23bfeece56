"""The `VectorIndex` interface: inner-product search over L2-normalised vectors by row position."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["VectorIndex", "SearchResult"]

SearchResult = tuple[np.ndarray, np.ndarray]  # (scores (nq, k) float32, positions (nq, k) int64)


class VectorIndex(ABC):
    """Maps query vectors to the positions of the most similar stored vectors (inner product)."""

    kind: str
    dim: int

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> SearchResult:
        """Top-k by inner product; rows padded with (−inf, −1) when fewer than k vectors exist."""

    @abstractmethod
    def save(self, path: Path) -> None: ...

    def with_search_params(self, params: Mapping[str, int]) -> VectorIndex:
        """This index searched with other search-time parameters (efSearch, nprobe), sharing its data; the
        index itself is left as it is. Without parameters to apply (an exact scan), the index itself."""
        return self

    def _check_queries(self, queries: np.ndarray) -> np.ndarray:
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if q.shape[1] != self.dim:
            raise ValueError(f"query dimension {q.shape[1]} does not match index dimension {self.dim}")
        return q
