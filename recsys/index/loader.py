"""Open a built index as a `VectorIndex` from its manifest entry (optionally memory-mapped, read-only)."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np

from recsys.errors import ArtifactError
from recsys.index.base import VectorIndex
from recsys.index.choose import IndexSpec
from recsys.index.decoded import DecodedVectors, matches_codes
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
    """`vectors` (catalogue order), or the same vectors as `index` stores them when it holds them in that
    order, so that a process with a memory-mapped index maps one copy of them instead of two:
    - uncompressed (`FaissIndex.stored_vectors`: Flat, HNSW…,Flat): the index's own float32 rows, which must
      match sampled rows of `vectors` exactly (at 1M × 384, 1.5 GB each in index.faiss and item_vectors.npy);
    - SQ8 codes (`FaissIndex.sq8_codes`: SQ8, HNSW…,SQ8): a `DecodedVectors` view that decodes the rows it
      is asked for, when sampled rows decode to within the quantizer's error (`matches_codes`); its values
      are the codes' (the index's own view of the vectors), not `vectors`' exact floats.
    Any other index (partitioned, deduplicated, other codes), or a failed check, keeps `vectors`."""
    if not isinstance(index, FaissIndex):
        return vectors
    codes = index.sq8_codes()
    if codes is not None:
        # DecodedVectors answers the ndarray operations serving applies to item vectors (row selection,
        # shape, dtype, len); see its docstring.
        return cast(np.ndarray, DecodedVectors(codes)) if matches_codes(codes, vectors) else vectors
    stored = index.stored_vectors()
    if stored is None or stored.shape != vectors.shape:
        return vectors
    rows = np.unique(np.linspace(0, len(vectors) - 1, num=min(len(vectors), 257)).astype(np.int64))
    return stored if np.array_equal(stored[rows], vectors[rows]) else vectors
