"""Pure choice of a FAISS index type and search parameters from catalogue size and memory budget."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["IndexSpec", "choose_index", "EXACT_THRESHOLD", "estimate_bytes", "candidate_specs", "ivf_nlist",
           "EF_SEARCH_LADDER", "NPROBE_LADDER", "train_size", "TRAIN_PER_LIST", "SQ_TRAIN_MAX", "Measured",
           "prefer", "SERVE_SLACK", "BUILD_SPEEDUP", "parse_bytes"]

#: Below this many vectors an exact scan is fast enough (< ~1 ms at 384-d) and costs no recall.
EXACT_THRESHOLD = 50_000
#: Above this many vectors HNSW's graph build time and memory grow past IVF's.
HNSW_LIMIT = 2_000_000
#: IVF k-means trains on this many seeded random vectors per list: inside faiss's 39–256 range, enough for
#: stable centroids, while training cost (∝ sample × lists) stays a fraction of adding the vectors.
TRAIN_PER_LIST = 64
#: Scalar quantizers learn each dimension's value range, one pass over the vectors (0.2 s at 1M × 384), so
#: they train on all of them up to this many: a sample's range clips the rare values it did not see (at 1M
#: hashing-384 vectors, a 100k sample clipped 0.6 % of the rows and an exact scan over the codes lost recall
#: @10 .983 → .954).
SQ_TRAIN_MAX = 10_000_000


@dataclass(frozen=True)
class IndexSpec:
    factory: str
    search_params: dict[str, int] = field(default_factory=dict)
    #: Vectors needed to train the index (0 when it needs no training).
    train_size: int = 0

    @property
    def exact(self) -> bool:
        return self.factory == "Flat"


#: Search-time ladders the auto-tuner walks upwards until the target recall is met (cheap: no rebuild).
EF_SEARCH_LADDER = (16, 32, 64, 128, 256, 512)
NPROBE_LADDER = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def _bytes_per_vector(dim: int, factory: str) -> float:
    code = dim if "SQ8" in factory else dim * 4
    if factory.startswith("HNSW"):
        return code + 32 * 2 * 4 * 1.1  # level-0 links (2M ids) plus ~10% upper levels
    if factory.startswith("IVF"):
        return code + 8  # the stored id of each vector in its inverted list
    return code


def estimate_bytes(n: int, dim: int, factory: str) -> int:
    """Resident size of an index with `n` vectors: codes, graph links or list ids, and IVF centroids."""
    nlist = int(factory[3:].split(",")[0]) if factory.startswith("IVF") else 0
    return int(n * _bytes_per_vector(dim, factory) + nlist * dim * 4)


_UNITS = {"": 1, "B": 1, "K": 2**10, "KB": 2**10, "M": 2**20, "MB": 2**20, "G": 2**30, "GB": 2**30}


def parse_bytes(text: str) -> int:
    """A memory budget as written on a command line: bytes, or a number with K/M/G (powers of 1,024,
    "KB"/"MB"/"GB" alike, any case): "800M" → 838,860,800, "1.5G", "1000000"."""
    raw = text.strip().upper()
    number = raw.rstrip("KMGB")
    unit = raw[len(number):]
    try:
        value = float(number)
    except ValueError:
        value = math.nan
    if unit not in _UNITS or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{text!r} is not a memory size; write bytes or a number with K, M or G, e.g. 800M or 1.5G")
    return int(value * _UNITS[unit])


def ivf_nlist(n: int) -> int:
    """Power of two near 4·√n lists (the usual rule), at least 16."""
    return max(16, 1 << round(math.log2(4 * math.sqrt(max(n, 1)))))


def train_size(factory: str, n: int) -> int:
    """Training vectors `factory` needs for `n` vectors: `TRAIN_PER_LIST` per IVF list, up to
    `SQ_TRAIN_MAX` for a scalar quantizer, 0 for codes that need no training."""
    if factory.startswith("IVF"):
        return min(n, TRAIN_PER_LIST * int(factory[3:].split(",")[0]))
    return min(n, SQ_TRAIN_MAX) if "SQ" in factory else 0


def candidate_specs(n: int, dim: int, *, max_memory_bytes: int | None = None,
                    allow_hnsw: bool = True) -> list[IndexSpec]:
    """Index families worth measuring for `n` vectors, cheapest-to-serve first, that fit the budget.

    Flat and SQ8 scan everything; HNSW32 (graph) and IVF (≈4√n lists) are approximate, each with a
    Flat or SQ8 code. Search parameters start at the bottom of their ladder; the tuner raises them.
    """
    if n < 0 or dim <= 0:
        raise ValueError(f"n must be ≥ 0 and dim > 0, got n={n}, dim={dim}")
    nlist = ivf_nlist(n)
    specs = [IndexSpec("Flat"), IndexSpec("SQ8", train_size=train_size("SQ8", n))]
    if allow_hnsw and n <= HNSW_LIMIT:
        specs += [IndexSpec(f, {"efSearch": EF_SEARCH_LADDER[0]}, train_size=train_size(f, n))
                  for f in ("HNSW32,Flat", "HNSW32,SQ8")]
    if n >= 16 * nlist:
        specs += [IndexSpec(f, {"nprobe": NPROBE_LADDER[0]}, train_size=train_size(f, n))
                  for f in (f"IVF{nlist},Flat", f"IVF{nlist},SQ8")]
    if max_memory_bytes is None:
        return specs
    return [s for s in specs if estimate_bytes(n, dim, s.factory) <= max_memory_bytes]


def choose_index(n: int, dim: int, *, max_memory_bytes: int | None = None) -> IndexSpec:
    """Exact below `EXACT_THRESHOLD`; HNSW32 up to `HNSW_LIMIT`; IVF above; SQ8 when memory is short.

    The defaults come from recall measurements on 200k clustered 384-d vectors: HNSW32 with efSearch 128
    gave R@10 ≈ 0.96, IVF with nprobe 32 ≈ 0.965. `recsys build` tunes above `EXACT_THRESHOLD` anyway
    (`autotune.py`); `benchmarks/bench_index.py` measures the choices at 100k and 1M (benchmarks/README.md).
    """
    if n < 0 or dim <= 0:
        raise ValueError(f"n must be ≥ 0 and dim > 0, got n={n}, dim={dim}")
    if n < EXACT_THRESHOLD:
        spec = IndexSpec("Flat")
        if max_memory_bytes is not None and n * _bytes_per_vector(dim, "Flat") > max_memory_bytes:
            spec = IndexSpec("SQ8", train_size=train_size("SQ8", n))
        return spec
    if n <= HNSW_LIMIT:
        spec = IndexSpec("HNSW32,Flat", {"efSearch": 128})
        if max_memory_bytes is None or n * _bytes_per_vector(dim, spec.factory) <= max_memory_bytes:
            return spec
        return IndexSpec("HNSW32,SQ8", {"efSearch": 128}, train_size=train_size("HNSW32,SQ8", n))
    nlist = ivf_nlist(n)
    coarse = f"IVF{nlist},Flat"
    if max_memory_bytes is not None and n * _bytes_per_vector(dim, coarse) > max_memory_bytes:
        coarse = f"IVF{nlist},SQ8"
    return IndexSpec(coarse, {"nprobe": 32}, train_size=train_size(coarse, n))


#: A candidate serving at least this fraction of the fastest one's QPS counts as serving about as fast…
SERVE_SLACK = 0.8
#: …and is preferred to it when it builds at least this many times faster.
BUILD_SPEEDUP = 2.0


@dataclass(frozen=True)
class Measured:
    """One candidate index as the chooser sees it: measured or projected at the catalogue's size."""

    factory: str
    recall_at_10: float
    qps: float  # single-query QPS on one thread
    build_s: float
    bytes: int


def prefer(candidates: Sequence[Measured], target_recall: float, max_bytes: int | None = None) -> int | None:
    """Position of the candidate to build, or None when none reaches `target_recall` within `max_bytes`.

    The rule: among candidates that reach the target within the budget, take the fastest-serving one,
    unless others serve within 20 % of it (`SERVE_SLACK`) and build at least 2× faster (`BUILD_SPEEDUP`);
    then the fastest-building of those (ties: higher QPS, then list order). Serving runs all day while a
    build runs once per catalogue refresh, so serving speed leads; but a build that takes many minutes
    longer for a few percent of QPS delays every refresh for nothing a user would notice.
    """
    ok = [i for i, c in enumerate(candidates)
          if c.recall_at_10 >= target_recall and (max_bytes is None or c.bytes <= max_bytes)]
    if not ok:
        return None
    fastest = max(ok, key=lambda i: (candidates[i].qps, -i))
    top = candidates[fastest]
    quicker = [i for i in ok if candidates[i].qps >= SERVE_SLACK * top.qps
               and candidates[i].build_s * BUILD_SPEEDUP <= top.build_s]
    if not quicker:
        return fastest
    return min(quicker, key=lambda i: (candidates[i].build_s, -candidates[i].qps, i))
