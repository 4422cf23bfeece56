"""Each indexed user's nearest items, searched once at build time.

A known user whose profile has not changed since the build asks the vector index the same question on
every request: the nearest items to their stored profile vector. The build asks it once per user, in
batches on every core, and stores the answers beside the index; serving reads a user's row instead of
searching (the way Gorse serves from its per-user cache). A user with events ingested after the build
has a new profile vector and is searched live.

Each user's row holds the `depth` nearest positions the build asked for, deep enough for the default
request: the blend's candidate count, plus the user's own history (excluded from their answers), plus
`MAX_K` results. A request that needs more (a larger k, a config with more candidates) searches live.
The rows are the index's own answers (with a deeper k than a live search, which for HNSW means an equal
or larger search beam), so a cached answer ranks the same candidates a live one would, or nearer ones.

Stored as two `.npy` files (positions, int32, and row offsets, int64), memory-mapped when serving so
every worker process shares one copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recsys.errors import ArtifactError
from recsys.index.base import VectorIndex

__all__ = ["UserHits", "HIT_FILES", "MAX_K", "hit_depths"]

HIT_FILES = {"positions": "user_hits.npy", "offsets": "user_hits_offsets.npy"}
#: Results per request the rows are deep enough for (the service's default `max_k`).
MAX_K = 100
BATCH = 1024


def hit_depths(candidates: int, history_sizes: np.ndarray, n_items: int) -> np.ndarray:
    """Row depth per user: what a request with k ≤ `MAX_K` fetches (see the module docstring)."""
    return np.minimum(candidates + np.asarray(history_sizes, np.int64) + MAX_K, n_items).astype(np.int64)


@dataclass(frozen=True)
class UserHits:
    positions: np.ndarray  # int32, every user's row concatenated, nearest first
    offsets: np.ndarray  # int64, n_users + 1: user row r is positions[offsets[r]:offsets[r + 1]]

    @classmethod
    def search(cls, index: VectorIndex, vectors: np.ndarray, depths: np.ndarray) -> UserHits:
        """Search `index` for every row of `vectors` to its depth, `BATCH` users per call (the index uses
        the threads the caller set). Users are batched in depth order so each call asks for about the
        depth its users need."""
        depths = np.asarray(depths, np.int64)
        offsets = np.zeros(len(vectors) + 1, np.int64)
        np.cumsum(depths, out=offsets[1:])
        out = np.full(int(offsets[-1]), -1, np.int32)
        order = np.argsort(depths, kind="stable")
        for a in range(0, len(order), BATCH):
            rows = order[a : a + BATCH]
            deepest = int(depths[rows].max(initial=0))
            if deepest == 0:
                continue
            _, ids = index.search(np.ascontiguousarray(vectors[rows], np.float32), deepest)
            for r, found in zip(rows.tolist(), ids, strict=True):
                out[offsets[r] : offsets[r + 1]] = found[: depths[r]]
        return cls(out, offsets)

    def row(self, r: int) -> np.ndarray:
        """User row `r`'s positions, nearest first (−1 where the index had fewer items)."""
        return np.asarray(self.positions[self.offsets[r] : self.offsets[r + 1]], np.int64)

    def save(self, folder: Path) -> None:
        np.save(folder / HIT_FILES["positions"], self.positions)
        np.save(folder / HIT_FILES["offsets"], self.offsets)

    @classmethod
    def load(cls, folder: Path, n_users: int, n_items: int, *, mmap: bool = False) -> UserHits:
        # A plain ndarray view of the mapping: slicing an np.memmap runs its Python hooks on every request.
        positions = np.asarray(np.load(folder / HIT_FILES["positions"], mmap_mode="r" if mmap else None,
                                       allow_pickle=False))
        offsets = np.asarray(np.load(folder / HIT_FILES["offsets"], allow_pickle=False))
        if (positions.dtype != np.int32 or positions.ndim != 1 or offsets.dtype != np.int64
                or offsets.shape != (n_users + 1,) or offsets[0] != 0 or offsets[-1] != len(positions)
                or (np.diff(offsets) < 0).any()
                or (len(positions) and (int(positions.min()) < -1 or int(positions.max()) >= n_items))):
            raise ArtifactError(f"{folder / HIT_FILES['offsets']} does not describe {n_users} users' rows of "
                                f"{folder / HIT_FILES['positions']} over {n_items} items; rebuild the index")
        return cls(positions, offsets)
