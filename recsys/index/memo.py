"""`MemoSearch`: a `VectorIndex` that remembers the answers of the single-vector searches it was asked.

An index version never changes once built, and a search of it is deterministic, so the answer to the
same query vector and `k` is the same every time: the service wraps its index with one for free-text
queries, whose texts repeat (the head of a search log is a few hundred queries, and a text's vector is
the encoder's, remembered per text by the query cache). Live signals, filters and the blend are applied
after the search, per request, so a remembered search never makes an answer stale. A reload builds a
new one with the new version.

Bounded: at most `capacity` answers, the least recently used forgotten first. Searches of several
vectors at once (evaluation, the build) pass straight through.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from recsys.errors import ArtifactError
from recsys.index.base import SearchResult, VectorIndex

__all__ = ["MemoSearch"]


class MemoSearch(VectorIndex):
    def __init__(self, inner: VectorIndex, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be ≥ 1, got {capacity}")
        self.inner, self.capacity = inner, capacity
        self.kind, self.dim = inner.kind, inner.dim
        #: (a 128-bit digest of the query's bytes, k) → answer: a digest keeps the key small whatever the
        #: dimension, and two different vectors sharing one is as likely as guessing a random 128-bit key.
        self._memo: OrderedDict[tuple[bytes, int], SearchResult] = OrderedDict()
        self._lock = threading.Lock()
        #: Searches answered from memory and searches sent to the index.
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self.inner)

    def search(self, queries: np.ndarray, k: int) -> SearchResult:
        q = self._check_queries(queries)
        if len(q) != 1:
            return self.inner.search(q, k)
        key = (hashlib.blake2b(q.tobytes(), digest_size=16).digest(), int(k))
        with self._lock:
            found = self._memo.get(key)
            if found is not None:
                self._memo.move_to_end(key)
                self.hits += 1
        if found is not None:
            scores, ids = found
            return scores.copy(), ids.copy()  # callers may write to what they get
        scores, ids = self.inner.search(q, k)
        with self._lock:
            self.misses += 1
            self._memo[key] = (scores.copy(), ids.copy())
            while len(self._memo) > self.capacity:
                self._memo.popitem(last=False)
        return scores, ids

    def with_search_params(self, params: Mapping[str, int]) -> VectorIndex:
        """The wrapped index with other parameters (unremembered: its answers differ from these)."""
        return self.inner.with_search_params(params)

    def save(self, path: Path) -> None:
        raise ArtifactError("a remembered search has no data of its own to save; save the index it wraps")
