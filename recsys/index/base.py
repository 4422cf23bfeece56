"""The `VectorIndex` interface: inner-product search over L2-normalised vectors by row position."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

__all__ = ["VectorIndex", "SearchResult", "clean_results"]

SearchResult = tuple[np.ndarray, np.ndarray]  # (scores (nq, k) float32, positions (nq, k) int64)


def clean_results(scores: np.ndarray, ids: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per query, drop FAISS's padding (id −1, score −inf) when fewer than k results exist."""
    out = []
    for s, i in zip(scores, ids, strict=True):
        keep = i >= 0
        out.append((s[keep], i[keep]))
    return out


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

    def _check_queries(self, queries: np.ndarray) -> np.ndarray:
        q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if q.shape[1] != self.dim:
            raise ValueError(f"query dimension {q.shape[1]} does not match index dimension {self.dim}")
        return q
