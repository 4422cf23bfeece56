"""FAISS backend of `VectorIndex`, built from a factory string chosen by `choose_index`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import faiss
import numpy as np

from recsys.errors import ArtifactError
from recsys.index.base import SearchResult, VectorIndex
from recsys.index.choose import IndexSpec

__all__ = ["FaissIndex", "set_search_threads", "mmap_flags", "search_threads"]


def set_search_threads(n: int) -> None:
    """Single online queries run best on one OpenMP thread: for one query the OpenMP fan-out costs more
    than it saves (two threads measured half the single-query QPS of one thread)."""
    faiss.omp_set_num_threads(max(1, n))


def mmap_flags(factory: str) -> int:
    """Read-only memory-mapping flags, so several server processes share one copy of the index pages.

    Flat-code indexes (Flat, SQ8, HNSW) map their code array in place (`IO_FLAG_MMAP_IFC`); IVF indexes
    map their inverted lists (`IO_FLAG_MMAP`), which faiss only supports for those.
    """
    base = faiss.IO_FLAG_MMAP if factory.startswith("IVF") else faiss.IO_FLAG_MMAP_IFC
    return base | faiss.IO_FLAG_READ_ONLY


@contextmanager
def search_threads(n: int) -> Iterator[None]:
    """Run a block with `n` OpenMP threads, then restore the previous setting."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(max(1, n))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


class FaissIndex(VectorIndex):
    kind = "faiss"

    def __init__(self, index: faiss.Index, spec: IndexSpec) -> None:
        self._index = index
        self.spec = spec
        self.dim = index.d
        self.apply_search_params(spec.search_params)

    @classmethod
    def build(cls, vectors: np.ndarray, spec: IndexSpec, *, seed: int = 0) -> FaissIndex:
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        index = faiss.index_factory(x.shape[1], spec.factory, faiss.METRIC_INNER_PRODUCT)
        if not index.is_trained:
            rng = np.random.default_rng(seed)
            n_train = min(len(x), max(spec.train_size, 1))
            sample = x[rng.choice(len(x), size=n_train, replace=False)] if n_train < len(x) else x
            index.train(sample)
        if len(x):
            index.add(x)
        return cls(index, spec)

    def apply_search_params(self, params: dict[str, int]) -> None:
        """Set search-time parameters (efSearch, nprobe) in place and record them in `spec`."""
        if not params:
            return
        ps = faiss.ParameterSpace()
        for key, value in params.items():
            ps.set_index_parameter(self._index, key, value)
        self.spec = replace(self.spec, search_params={**self.spec.search_params, **params})

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> SearchResult:
        q = self._check_queries(queries)
        if len(self) == 0:
            return np.full((len(q), k), -np.inf, np.float32), np.full((len(q), k), -1, np.int64)
        scores, ids = self._index.search(q, k)
        return scores, ids.astype(np.int64, copy=False)

    def save(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path, spec: IndexSpec, *, mmap: bool = False) -> FaissIndex:
        """With `mmap`, map the index read-only where its type allows it; an index type faiss cannot map is
        read into memory instead (the same index, only not shared between processes)."""
        try:
            if mmap:
                try:
                    return cls(faiss.read_index(str(path), mmap_flags(spec.factory)), spec)
                except RuntimeError:
                    pass
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise ArtifactError(f"cannot read FAISS index {path}: {exc}; rebuild it with `recsys build`") from exc
        return cls(index, spec)
