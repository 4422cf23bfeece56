"""Index unique vectors only, and map each unique row back to every catalogue position that holds it.

Catalogues repeat product texts (variant copies, "Gift card" × 200), and identical vectors break graph
indexes: HNSW links a node to its nearest neighbours, which are then all copies of itself, so the graph
falls apart into islands (HNSW32 recall 0.15 on the Gift Cards sample). Indexing each distinct vector once
fixes that and shrinks the index; `DedupedIndex` expands the hits again, so callers of
`VectorIndex.search` see catalogue positions exactly as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recsys.errors import ArtifactError
from recsys.index.base import SearchResult, VectorIndex

__all__ = ["VectorGroups", "group_identical", "DedupedIndex", "groups_path"]


@dataclass(frozen=True)
class VectorGroups:
    """CSR-style map: unique row u holds positions `order[offsets[u]:offsets[u + 1]]` (ascending)."""

    first: np.ndarray  # (n_unique,) first catalogue position of each unique vector, ascending
    offsets: np.ndarray  # (n_unique + 1,)
    order: np.ndarray  # (n,) catalogue positions grouped by unique row

    @property
    def n_unique(self) -> int:
        return len(self.first)

    @property
    def n(self) -> int:
        return len(self.order)

    @property
    def has_duplicates(self) -> bool:
        return self.n_unique < self.n

    def save(self, path: Path) -> None:
        """One int64 array [n_unique, first…, offsets…, order…], so it can be memory-mapped."""
        np.save(path, np.concatenate([[self.n_unique], self.first, self.offsets, self.order]).astype(np.int64))

    @classmethod
    def load(cls, path: Path, *, mmap: bool = False) -> VectorGroups:
        try:
            flat = np.load(path, mmap_mode="r" if mmap else None)
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"cannot read the duplicate-vector map {path}: {exc}; rebuild the index") from exc
        u = int(flat[0]) if len(flat) else -1
        if u < 0 or len(flat) < 2 * u + 2:
            raise ArtifactError(f"{path} is not a duplicate-vector map (bad header); rebuild the index")
        return cls(first=flat[1 : 1 + u], offsets=flat[1 + u : 2 + 2 * u], order=flat[2 + 2 * u :])


def group_identical(vectors: np.ndarray) -> VectorGroups:
    """Group rows whose float32 values are bit-identical (the encoder maps equal texts to equal vectors).

    Rows are bucketed by an integer hash of their bits (exact arithmetic, so equal rows always share a
    bucket), then each row is compared with its bucket's first row byte for byte, so a hash collision
    can never merge two different vectors.
    """
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(x)
    if n == 0:
        return VectorGroups(np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros(0, np.int64))
    bits = x.view(np.uint32)
    # Hashing every 4th coordinate is enough to bucket (the byte comparison below is over all of them).
    cols = bits[:, ::4] if x.shape[1] >= 64 else bits
    mult = np.random.default_rng(12345).integers(1, 2**63, size=cols.shape[1], dtype=np.uint64) | np.uint64(1)
    key = np.empty(n, np.uint64)
    for a in range(0, n, 16384):  # chunked: a uint64 product over all rows at once would need gigabytes
        key[a : a + 16384] = (cols[a : a + 16384].astype(np.uint64) * mult).sum(axis=1, dtype=np.uint64)
    _, bucket = np.unique(key, return_inverse=True)
    rep = np.full(bucket.max() + 1, n, np.int64)
    np.minimum.at(rep, bucket, np.arange(n))
    same = np.empty(n, bool)
    for a in range(0, n, 16384):
        same[a : a + 16384] = np.all(bits[a : a + 16384] == bits[rep[bucket[a : a + 16384]]], axis=1)
    # A row that differs from its bucket's first row (a collision, never seen in practice) stays on its own.
    label = np.where(same, rep[bucket], np.arange(n))
    first, inverse = np.unique(label, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    offsets = np.concatenate([[0], np.cumsum(np.bincount(inverse, minlength=len(first)))])
    return VectorGroups(first.astype(np.int64), offsets.astype(np.int64), order.astype(np.int64))


def groups_path(index_path: Path) -> Path:
    """Where the duplicate map of `index.faiss` lives: `index.groups.npy` beside it."""
    return index_path.with_name(index_path.stem + ".groups.npy")


class DedupedIndex(VectorIndex):
    """A `VectorIndex` over unique vectors that answers in catalogue positions.

    k unique hits expand to at least k positions, so searching the inner index for k is enough; copies
    of one vector share its score and come back in ascending position order.
    """

    def __init__(self, inner: VectorIndex, groups: VectorGroups) -> None:
        if len(inner) != groups.n_unique:
            raise ArtifactError(
                f"the index holds {len(inner)} vectors but its duplicate map lists {groups.n_unique} unique "
                "vectors; the folder is inconsistent, rebuild it"
            )
        self.inner = inner
        self.groups = groups
        self.dim = inner.dim
        self.kind = f"deduped-{inner.kind}"

    def __len__(self) -> int:
        return self.groups.n

    def with_search_params(self, params: Mapping[str, int]) -> VectorIndex:
        inner = self.inner.with_search_params(params)
        return self if inner is self.inner else DedupedIndex(inner, self.groups)

    def search(self, queries: np.ndarray, k: int) -> SearchResult:
        q = self._check_queries(queries)
        scores = np.full((len(q), k), -np.inf, np.float32)
        ids = np.full((len(q), k), -1, np.int64)
        if k == 0:
            return scores, ids
        us, uids = self.inner.search(q, k)
        off, order = self.groups.offsets, self.groups.order
        for row in range(len(q)):
            valid = uids[row] >= 0
            hit = uids[row][valid]
            if len(hit) == 0:
                continue
            counts = off[hit + 1] - off[hit]
            starts = np.repeat(off[hit], counts) + _ramp(counts)
            take = min(k, len(starts))
            ids[row, :take] = order[starts[:take]]
            scores[row, :take] = np.repeat(us[row][valid], counts)[:take]
        return scores, ids

    def save(self, path: Path) -> None:
        self.inner.save(path)
        self.groups.save(groups_path(path))


def _ramp(counts: np.ndarray) -> np.ndarray:
    """[0..c0-1, 0..c1-1, …] for group sizes `counts`."""
    total = int(counts.sum())
    return np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
