"""An `Encoder` that memoises another: each distinct (kind, text) is encoded once per process.

Evaluation and tuning rebuild profiles and indexes many times over the same texts; wrapping the
encoder makes every rebuild after the first cost no encoding at all.
"""

from __future__ import annotations

import numpy as np

from recsys.encoders.base import Encoder, TextKind

__all__ = ["CachedEncoder"]


class CachedEncoder(Encoder):
    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self.name, self.dim, self.revision, self.engine = inner.name, inner.dim, inner.revision, inner.engine
        self._memo: dict[tuple[str, str], np.ndarray] = {}
        self.misses = 0

    def _encode_sorted(self, texts: list[str], kind: TextKind, batch_size: int, progress: bool) -> np.ndarray:
        missing = [t for t in texts if (kind, t) not in self._memo]
        if missing:
            vecs = self.inner.encode(missing, kind=kind, batch_size=batch_size, progress=progress)
            self._memo.update({(kind, t): v for t, v in zip(missing, vecs, strict=True)})
            self.misses += len(missing)
        out = np.empty((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            out[i] = self._memo[(kind, t)]
        return out

    def __len__(self) -> int:
        return len(self._memo)
