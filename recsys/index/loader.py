"""Open a built index as a `VectorIndex` from its manifest entry (optionally memory-mapped, read-only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recsys.errors import ArtifactError
from recsys.index.base import VectorIndex
from recsys.index.choose import IndexSpec
from recsys.index.dedupe import DedupedIndex, VectorGroups
from recsys.index.faiss_index import FaissIndex
from recsys.index.manifest import IndexInfo

__all__ = ["load_index", "shared_item_vectors"]


def load_index(path: Path, info: IndexInfo, *, mmap: bool = False) -> VectorIndex:
    """The index at `path` as its manifest describes it: FAISS over unique vectors, wrapped so it answers
    in catalogue positions when a duplicate map was written. With `mmap`, server workers share the
    index pages (and the map) through the page cache instead of each holding a private copy."""
    index = FaissIndex.load(path, IndexSpec(info.factory, dict(info.search_params)), mmap=mmap)
    if info.groups_file is None:
        return index
    groups_file = path.parent / info.groups_file
    if not groups_file.is_file():
        raise ArtifactError(f"{groups_file} is missing but the manifest lists it; the folder is incomplete, "
                            "rebuild the index")
    return DedupedIndex(index, VectorGroups.load(groups_file, mmap=mmap))


def shared_item_vectors(index: VectorIndex, vectors: np.ndarray) -> np.ndarray:
    """`vectors` (catalogue order), or the same values as `index` stores them when it holds them
    uncompressed in that order (`FaissIndex.stored_vectors`): with a memory-mapped index the process then
    maps one copy of the vectors instead of two (at 1M × 384, 1.5 GB each in index.faiss and
    item_vectors.npy). Sampled rows must match exactly; any difference, or a compressed, partitioned or
    deduplicated index, keeps `vectors`."""
    stored = index.stored_vectors() if isinstance(index, FaissIndex) else None
    if stored is None or stored.shape != vectors.shape:
        return vectors
    rows = np.unique(np.linspace(0, len(vectors) - 1, num=min(len(vectors), 257)).astype(np.int64))
    return stored if np.array_equal(stored[rows], vectors[rows]) else vectors
