"""The `Encoder` interface: texts in, L2-normalised float32 vectors out.

Engines implement `_encode_sorted`; the base class deduplicates, sorts by length (less padding),
batches, and normalises, so every engine behaves the same at the boundary.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Literal

import numpy as np

from recsys.errors import EncoderError

__all__ = ["Encoder", "TextKind", "l2_normalize"]

TextKind = Literal["query", "passage"]


def l2_normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


class Encoder(ABC):
    """Turns texts into unit vectors. `name` and `dim` are recorded in every index manifest."""

    name: str
    dim: int
    #: Identifies the exact weights (package version, file hash); recorded in manifests.
    revision: str = ""
    #: Which engine runs the model (e.g. "torch-cpu", "torch-cuda-fp16", "numpy").
    engine: str = ""

    @abstractmethod
    def _encode_sorted(self, texts: list[str], kind: TextKind, batch_size: int, progress: bool) -> np.ndarray:
        """Encode texts already deduplicated and sorted by length; return (n, dim) float32."""

    def encode(
        self,
        texts: Sequence[str],
        *,
        kind: TextKind = "passage",
        batch_size: int = 64,
        progress: bool = False,
    ) -> np.ndarray:
        if isinstance(texts, str):
            raise EncoderError("encode() takes a sequence of texts, not one string; wrap it in a list")
        texts = [t if isinstance(t, str) else "" for t in texts]
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        unique = list(dict.fromkeys(texts))
        order = sorted(range(len(unique)), key=lambda i: len(unique[i]), reverse=True)
        sorted_texts = [unique[i] for i in order]
        vecs = self._encode_sorted(sorted_texts, kind, batch_size, progress)
        if vecs.shape != (len(unique), self.dim):
            raise EncoderError(
                f"engine {self.engine or type(self).__name__} returned shape {vecs.shape}, "
                f"expected ({len(unique)}, {self.dim})"
            )
        by_unique = np.empty_like(vecs)
        by_unique[np.asarray(order)] = vecs
        pos = {t: i for i, t in enumerate(unique)}
        return l2_normalize(by_unique[[pos[t] for t in texts]])

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "dim": self.dim, "revision": self.revision, "engine": self.engine}
