"""FAISS backend of `VectorIndex`, built from a factory string chosen by `choose_index`."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import faiss
import numpy as np

from recsys.errors import ArtifactError
from recsys.index.base import SearchResult, VectorIndex
from recsys.index.choose import IndexSpec
from recsys.index.decoded import SQ8Codes

__all__ = ["FaissIndex", "BuildStats", "set_search_threads", "on_search_threads", "mmap_flags", "search_threads",
           "build_threads", "index_bytes", "train_sample", "add_batched", "EF_CONSTRUCTION", "ADD_BATCH"]

#: HNSW candidate-list size while linking the graph (faiss's default, stated so a build records it): larger
#: gives a slightly better graph (recall at a given efSearch) for a proportionally slower build.
EF_CONSTRUCTION = 40
#: Vectors per `add` call: bounds the temporary per-batch buffers (IVF list assignment, SQ encoding) while
#: each call still spreads over all OpenMP threads.
ADD_BATCH = 65_536

Progress = Callable[[int, int], None]
#: Largest efSearch / nprobe accepted from a manifest for per-call searches.
MAX_SEARCH_PARAM = 1 << 16


#: The OpenMP thread count `set_search_threads` asked for (None: OpenMP's default, every core).
_search_threads: int | None = None
#: Per calling thread: the count applied to it (`seen`) and how many `search_threads` blocks it is inside.
_local = threading.local()


def set_search_threads(n: int) -> None:
    """Single online queries run best on one OpenMP thread: for one query the OpenMP fan-out costs more
    than it saves (two threads measured half the single-query QPS of one thread).

    OpenMP keeps its thread count per calling thread, so the count is also applied to every other thread
    the first time it calls faiss through this module (`on_search_threads`): a server's request threads
    would otherwise run each single-query search and SQ decode on every core and spin-wait between
    calls (1M items: 5.1 CPU ms per recommendation on a worker thread vs 2.2 ms with one thread)."""
    global _search_threads
    _search_threads = max(1, n)
    faiss.omp_set_num_threads(_search_threads)
    _local.seen = _search_threads


def on_search_threads() -> None:
    """Give the calling thread the count of `set_search_threads` (once per thread and count; nothing
    inside a `search_threads` block, nor before any count was set)."""
    n = _search_threads
    if n is not None and getattr(_local, "seen", None) != n and not getattr(_local, "scoped", 0):
        faiss.omp_set_num_threads(n)
        _local.seen = n


def mmap_flags(factory: str) -> int:
    """Read-only memory-mapping flags, so several server processes share one copy of the index pages.

    Flat-code indexes (Flat, SQ8, HNSW) map their code array in place (`IO_FLAG_MMAP_IFC`); IVF indexes
    map their inverted lists (`IO_FLAG_MMAP`), which faiss only supports for those.
    """
    base = faiss.IO_FLAG_MMAP if factory.startswith("IVF") else faiss.IO_FLAG_MMAP_IFC
    return base | faiss.IO_FLAG_READ_ONLY


def build_threads() -> int:
    """OpenMP threads for building: every core this process may run on. Serving sets one thread per
    process (`set_search_threads`); a build in that process must not inherit it."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity API on this platform
        return max(1, os.cpu_count() or 1)


def index_bytes(index: faiss.Index) -> int:
    """Serialized size of `index` (its codes, lists, links and centroids: what it holds in memory),
    counted by streaming it through a writer, so no second copy of the index is held."""
    total = 0

    def count(chunk: bytes) -> int:
        nonlocal total
        total += len(chunk)
        return len(chunk)

    faiss.write_index(index, faiss.PyCallbackIOWriter(count))  # type: ignore[attr-defined]
    return total


def train_sample(x: np.ndarray, size: int, seed: int) -> np.ndarray:
    """`size` seeded random rows of `x` (all of `x` when it has no more), in their original order."""
    if size >= len(x):
        return x
    rows = np.sort(np.random.default_rng(seed).choice(len(x), size=max(size, 1), replace=False))
    return x[rows]


@dataclass(frozen=True)
class BuildStats:
    """Where a build's time went: training (k-means, SQ ranges) and adding (encoding, linking, list
    assignment), with the OpenMP threads it ran on."""

    train_s: float = 0.0
    add_s: float = 0.0
    threads: int = 1
    train_n: int = 0

    @property
    def build_s(self) -> float:
        return self.train_s + self.add_s


@contextmanager
def search_threads(n: int) -> Iterator[None]:
    """Run a block with `n` OpenMP threads in the calling thread, then restore the previous setting."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(max(1, n))
    _local.scoped = getattr(_local, "scoped", 0) + 1
    try:
        yield
    finally:
        _local.scoped -= 1
        faiss.omp_set_num_threads(before)


def add_batched(index: faiss.Index, x: np.ndarray, progress: Progress | None = None) -> None:
    """Add `x` to `index` in batches of `ADD_BATCH` rows (the caller picks the OpenMP threads), calling
    `progress(added, total)` after each."""
    for a in range(0, len(x), ADD_BATCH):
        index.add(x[a : a + ADD_BATCH])
        if progress is not None:
            progress(min(a + ADD_BATCH, len(x)), len(x))


class FaissIndex(VectorIndex):
    kind = "faiss"

    def __init__(self, index: faiss.Index, spec: IndexSpec) -> None:
        self._index = index
        self.spec = spec
        self.dim = index.d
        self.apply_search_params(spec.search_params)
        #: How the index was built (zeros for a loaded index).
        self.build_stats = BuildStats()

    @classmethod
    def build(cls, vectors: np.ndarray, spec: IndexSpec, *, seed: int = 0, threads: int | None = None,
              progress: Progress | None = None) -> FaissIndex:
        """Train on `spec.train_size` seeded random rows (IVF: its k-means; SQ: its value ranges), then add
        all vectors in batches of `ADD_BATCH`, on `threads` OpenMP threads (default: all cores), calling
        `progress(added, total)` after each batch."""
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        n_threads = threads or build_threads()
        with search_threads(n_threads):
            index = faiss.index_factory(x.shape[1], spec.factory, faiss.METRIC_INNER_PRODUCT)
            if spec.factory.startswith("HNSW"):
                index.hnsw.efConstruction = EF_CONSTRUCTION  # type: ignore[attr-defined]  # IndexHNSW*
            t0 = time.perf_counter()
            n_train = 0
            if not index.is_trained:
                sample = train_sample(x, max(spec.train_size, 1), seed)
                n_train = len(sample)
                index.train(sample)
            t1 = time.perf_counter()
            add_batched(index, x, progress)
            t2 = time.perf_counter()
        built = cls(index, spec)
        built.build_stats = BuildStats(round(t1 - t0, 3), round(t2 - t1, 3), n_threads, n_train)
        return built

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

    def nbytes(self) -> int:
        """Bytes the index holds (its serialized size; see `index_bytes`)."""
        return index_bytes(self._index)

    def search(self, queries: np.ndarray, k: int) -> SearchResult:
        return self._search(queries, k, None)

    def _search(self, queries: np.ndarray, k: int, params: faiss.SearchParameters | None) -> SearchResult:
        q = self._check_queries(queries)
        on_search_threads()
        if len(self) == 0:
            return np.full((len(q), k), -np.inf, np.float32), np.full((len(q), k), -1, np.int64)
        scores, ids = self._index.search(q, k, params=params)
        return scores, ids.astype(np.int64, copy=False)

    def with_search_params(self, params: Mapping[str, int]) -> VectorIndex:
        """A view searching with `params` per call (faiss `SearchParameters`), so the index's own parameters,
        which other threads search with, never change; the index itself when they are its own."""
        if not params or dict(params) == self.spec.search_params:
            return self
        return _SearchView(self, dict(params))

    def save(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

    def stored_vectors(self) -> np.ndarray | None:
        """The float32 vectors an uncompressed index stores (Flat, HNSW…,Flat; row i = position i) as a
        read-only view of the index's own memory, which is its mapped file when loaded with `mmap`: the
        one copy of the vectors a server then needs. None for compressed or partitioned indexes. The view
        keeps this index alive."""
        inner = self._index
        storage = faiss.downcast_index(inner.storage) if isinstance(inner, faiss.IndexHNSW) else inner
        if not isinstance(storage, faiss.IndexFlat) or storage.ntotal == 0:
            return None
        return np.asarray(_Borrowed(self, int(storage.get_xb()), (int(storage.ntotal), int(storage.d))))

    def sq8_codes(self) -> SQ8Codes | None:
        """The 8-bit scalar-quantizer codes an SQ8 index stores (SQ8, HNSW…,SQ8; row i = position i) as a
        read-only view of the index's own memory (its mapped file when loaded with `mmap`), with the
        quantizer's range and decoder; None for other codes. The view keeps this index alive."""
        inner = self._index
        storage = faiss.downcast_index(inner.storage) if isinstance(inner, faiss.IndexHNSW) else inner
        if (not isinstance(storage, faiss.IndexScalarQuantizer) or storage.ntotal == 0
                or storage.sq.qtype != faiss.ScalarQuantizer.QT_8bit or storage.code_size != storage.d):
            return None
        n, d = int(storage.ntotal), int(storage.d)
        trained = faiss.vector_to_array(storage.sq.trained).astype(np.float32)
        view = np.asarray(_Borrowed(self, int(storage.codes.data()), (n, d), "|u1"))
        return SQ8Codes(view, trained[:d], trained[d:], _decoder(storage), owner=self)

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


def _decoder(storage: faiss.Index) -> Callable[[np.ndarray], np.ndarray]:
    """`storage.sa_decode` on the calling thread's search threads (faiss decodes rows in parallel)."""
    def decode(codes: np.ndarray) -> np.ndarray:
        on_search_threads()
        return storage.sa_decode(codes)

    return decode


class _Borrowed:
    """A matrix in memory that `owner` holds (float32 unless `typestr` says otherwise), seen by numpy
    read-only (`np.asarray` of it is a view whose base is this object, so the owner lives as long as any
    view of it)."""

    def __init__(self, owner: object, address: int, shape: tuple[int, int], typestr: str = "<f4") -> None:
        self.owner = owner
        self.__array_interface__ = {"shape": shape, "typestr": typestr, "data": (address, True), "version": 3}


def _search_parameters(index: faiss.Index, params: dict[str, int]) -> faiss.SearchParameters:
    """faiss's per-call parameters for `index` (HNSW: efSearch; IVF: nprobe), each a whole number in
    [1, `MAX_SEARCH_PARAM`] (they come from a manifest, which a damaged or edited folder can hold anything in)."""
    if any(not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_SEARCH_PARAM
           for v in params.values()):
        raise ArtifactError(f"search parameters {params} must be whole numbers from 1 to {MAX_SEARCH_PARAM}; "
                            "rebuild the index version")
    if isinstance(index, faiss.IndexHNSW) and set(params) <= {"efSearch"}:
        out = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]  # missing from faiss's stubs
        out.efSearch = int(params["efSearch"])
        return out
    if isinstance(faiss.try_extract_index_ivf(index), faiss.IndexIVF) and set(params) <= {"nprobe"}:
        ivf = faiss.SearchParametersIVF()
        ivf.nprobe = int(params["nprobe"])
        return ivf
    raise ArtifactError(f"search parameters {params} do not apply to a {type(index).__name__} index; "
                        "rebuild the index version")


class _SearchView(VectorIndex):
    """A `FaissIndex` searched with other parameters (see `FaissIndex.with_search_params`)."""

    def __init__(self, base: FaissIndex, params: dict[str, int]) -> None:
        self.base, self.params = base, params
        self.kind, self.dim = base.kind, base.dim
        self._params = _search_parameters(base._index, params)

    def __len__(self) -> int:
        return len(self.base)

    def search(self, queries: np.ndarray, k: int) -> SearchResult:
        return self.base._search(queries, k, self._params)

    def save(self, path: Path) -> None:
        raise ArtifactError("a search view has no data of its own to save; save the index it views")
