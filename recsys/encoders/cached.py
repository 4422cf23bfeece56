"""An `Encoder` that memoises another: each distinct (kind, text) is encoded once while it is remembered.

Evaluation and tuning rebuild profiles and indexes many times over the same texts; wrapping the encoder
(unbounded, every kind) makes every rebuild after the first cost no encoding at all.

The service keeps a bounded one for query texts (`capacity`, least recently used evicted; `kinds=("query",)`):
free-text requests repeat (the head of a search log is a few hundred queries) and one request encodes its
texts more than once (ranking, then ad matching). It also lets the service encode a request's texts in the
threadpool, where the engine releases the interpreter, and then rank on the event loop, where the
ranking's encode calls are hits. A remembered vector is the engine's own for that text, so a hit answers
what a miss would, up to the padding arithmetic of the batch that first encoded it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection

import numpy as np

from recsys.encoders.base import Encoder, TextKind

__all__ = ["CachedEncoder", "QUERIES"]

#: `kinds` of a cache of query texts only.
QUERIES: frozenset[TextKind] = frozenset({"query"})


class CachedEncoder(Encoder):
    def __init__(self, inner: Encoder, *, capacity: int | None = None,
                 kinds: Collection[TextKind] = ("query", "passage")) -> None:
        if capacity is not None and capacity < 0:
            raise ValueError(f"capacity must be ≥ 0 or None (unbounded), got {capacity}")
        self.inner = inner
        self.name, self.dim, self.revision, self.engine = inner.name, inner.dim, inner.revision, inner.engine
        self.capacity = capacity
        self.kinds = frozenset(kinds)
        self._memo: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        #: Texts answered from memory and texts sent to the engine.
        self.hits = 0
        self.misses = 0

    def _encode_sorted(self, texts: list[str], kind: TextKind, batch_size: int, progress: bool) -> np.ndarray:
        if kind not in self.kinds or self.capacity == 0:
            return self.inner.encode(texts, kind=kind, batch_size=batch_size, progress=progress)
        out = np.empty((len(texts), self.dim), np.float32)
        missing: list[int] = []
        with self._lock:
            for i, t in enumerate(texts):
                hit = self._memo.get((kind, t))
                if hit is None:
                    missing.append(i)
                else:
                    self._memo.move_to_end((kind, t))
                    out[i] = hit
            self.hits += len(texts) - len(missing)
            self.misses += len(missing)
        if missing:
            # Encoded outside the lock: other threads' hits do not wait for the engine.
            vecs = self.inner.encode([texts[i] for i in missing], kind=kind, batch_size=batch_size,
                                     progress=progress)
            out[missing] = vecs
            with self._lock:
                for i, v in zip(missing, vecs, strict=True):
                    self._memo[(kind, texts[i])] = v
                while self.capacity is not None and len(self._memo) > self.capacity:
                    self._memo.popitem(last=False)
        return out

    def missing(self, texts: list[str], kind: TextKind) -> list[str]:
        """The distinct texts of `texts` (first occurrence order) that an `encode` of `kind` would send to the
        engine now: all of them for a kind this cache does not keep. Counts nothing, evicts nothing."""
        distinct = list(dict.fromkeys(texts))
        if kind not in self.kinds or self.capacity == 0:
            return distinct
        with self._lock:
            return [t for t in distinct if (kind, t) not in self._memo]

    def __len__(self) -> int:
        return len(self._memo)
