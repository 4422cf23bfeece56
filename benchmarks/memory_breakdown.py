"""Where one server worker's memory goes: each step of loading an index version for serving, measured.

    python benchmarks/memory_breakdown.py --index /tmp/b1m-npy/auto [--trace] [--out FILE]

Runs what a `recsys serve` worker runs at start-up (`load_served`: `load_artifacts(mmap=True)`, then the
live counters, text vectors, portrait terms and the default ranker) in this process, with each of the
loaders it calls wrapped so that their memory can be read from /proc/self/smaps_rollup before and after
(outermost calls only: a loader called inside another is counted in the outer one). `anon` is the
private heap a step added (what every worker pays again), `rss` also counts the pages of memory-mapped
files it touched (shared between workers). It then answers a few hundred recommendation requests so the
request path's pages are touched, and sizes the objects the loaded version keeps (numpy `nbytes`, pandas
`memory_usage(deep=True)`). `--trace` adds tracemalloc's top allocation sites (slower, and its own
bookkeeping inflates `anon`). Writes JSON (default benchmarks/results/memory-breakdown.json).
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import gc
import inspect
import json
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
MiB = 2**20


def rollup() -> dict[str, float]:
    kb: dict[str, int] = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split()[:2]
        kb[name.rstrip(":")] = int(value)
    return {"rss": kb["Rss"] / 1024, "anon": kb["Anonymous"] / 1024}


class Steps:
    """Memory added by each outermost wrapped call, in call order."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.depth = 0

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            self.depth += 1
            before, t0 = rollup(), time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth -= 1
                if self.depth == 0:
                    after = rollup()
                    self.rows.append({"step": label, "anon_mb": round(after["anon"] - before["anon"], 1),
                                      "rss_mb": round(after["rss"] - before["rss"], 1),
                                      "s": round(time.perf_counter() - t0, 2)})
        return run

    def mark(self, label: str, since: dict[str, float]) -> None:
        now = rollup()
        self.rows.append({"step": label, "anon_mb": round(now["anon"] - since["anon"], 1),
                          "rss_mb": round(now["rss"] - since["rss"], 1)})


def instrument(steps: Steps) -> None:
    """Wrap the loaders `load_artifacts` and `load_served` call, in the modules that call them."""
    import recsys.artifacts as A
    import recsys.service.tenants as T
    from recsys.explain import portraits
    from recsys.features.items import ItemFeatures
    from recsys.index.vectors import VectorTable

    for owner, name in ((A, "load_index"), (A, "shared_item_vectors"), (A, "history_slices"),
                        (T, "LiveSignals"), (T, "TextVectors"), (portraits, "catalogue_terms"),
                        (T, "version_terms"), (T, "make_encoder")):
        setattr(owner, name, steps.wrap(name, getattr(owner, name)))
    for cls, name in ((VectorTable, "load"), (ItemFeatures, "load"), (A.Manifest, "verify")):
        fn = steps.wrap(f"{cls.__name__}.{name}", getattr(cls, name))
        # a classmethod comes back bound to its class: store it as a plain function of the call's arguments
        setattr(cls, name, staticmethod(fn) if inspect.ismethod(getattr(cls, name)) else fn)
    A.pd = _Pandas(steps)  # the products and history frames
    A.IdMap = _IdMaps(steps, A.IdMap)
    T.Recommender = steps.wrap("Recommender (default ranker)", T.Recommender)


class _IdMaps:
    """`IdMap` as `recsys.artifacts` sees it, its two constructions measured."""

    def __init__(self, steps: Steps, cls: Any) -> None:
        self._steps, self._cls = steps, cls

    def __call__(self, *args: Any) -> Any:
        return self._steps.wrap("IdMap (users)", self._cls)(*args)

    def of(self, ids: Any) -> Any:
        return self._steps.wrap("IdMap.of (products)", self._cls.of)(ids)


class _Pandas:
    """`pandas` as `recsys.artifacts` sees it, with `read_parquet` measured per file."""

    def __init__(self, steps: Steps) -> None:
        self._steps = steps

    def read_parquet(self, path: Any, *args: Any, **kwargs: Any) -> Any:
        return self._steps.wrap(f"read_parquet {Path(path).name}", pd.read_parquet)(path, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(pd, name)


def _strings_bytes(values: np.ndarray) -> int:
    """An object array's pointers and `str` objects, or a StringDType array's 16 bytes per value plus the
    arena bytes of values too long to be stored inline (> 15 bytes of UTF-8)."""
    if values.dtype == object:
        return values.nbytes + sum(map(sys.getsizeof, values))
    return values.nbytes + sum(n for n in (len(str(v).encode()) for v in values) if n > 15)


def sizes(art: Any, served: Any) -> dict[str, float]:
    """Bytes the loaded version's objects hold (MB), the mapped arrays marked as such."""
    feats = art.features
    out: dict[str, float] = {
        "products frame (deep; not held when served)": (0 if art.held_products is None else
                                                        art.held_products.memory_usage(deep=True).sum()) / MiB,
        "titles": _strings_bytes(art.titles) / MiB,
        "items IdMap ids": _strings_bytes(art.items.ids) / MiB,
        "items IdMap lookup (pd.Index hash table est. 2 × 16 B/id, or sorted hashes)": (
            sum(getattr(art.items, f).nbytes for f in ("_sorted", "_order")) if hasattr(art.items, "_sorted")
            else len(art.items) * 2 * 16) / MiB,
        "features.category (object array)": feats.category.nbytes / MiB,
        "history frame (deep)": art.history.memory_usage(deep=True).sum() / MiB,
        "user_vectors": art.user_vectors.nbytes / MiB,
        "features sparse (cooc, trans, ease)": sum(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes
                                                   for m in (feats.cooc, feats.trans, feats.ease)) / MiB,
        "features numeric arrays": sum(getattr(feats, f).nbytes for f in (
            "price", "category_code", "top_category_code", "brand_code", "log_price", "age_days", "tiebreak",
            "popular")) / MiB,
        "item vectors (mapped: shared)": feats.vectors.nbytes / MiB if hasattr(feats.vectors, "nbytes") else 0.0,
    }
    terms = served._terms
    if terms is not None:
        out["portrait terms (packed arrays)"] = sum(
            v.nbytes for part in (terms.item_terms, terms.item_categories, terms.item_brands)
            for v in vars(part).values() if isinstance(v, np.ndarray)) / MiB
    return {k: round(v, 1) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, required=True, help="index root (with `current`) or version folder")
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--trace", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "memory-breakdown.json")
    args = ap.parse_args()

    start = rollup()
    from recsys.service import app as _app  # noqa: F401  (what a worker imports before loading)
    from recsys.service.tenants import load_served
    from recsys.store import open_event_store

    steps = Steps()
    steps.mark("imports (recsys.service.app and its libraries)", start)
    instrument(steps)
    if args.trace:
        tracemalloc.start(1)
    store = open_event_store(Path(tempfile.mkdtemp(prefix="membreak-")) / "ev.db")
    before_load = rollup()
    served = load_served(args.index, "default", store)
    steps.mark("load_served (total)", before_load)
    loaded = rollup()
    rec = served.recommender(served.art.config)
    users = served.art.users.ids[np.linspace(0, len(served.art.users) - 1, args.requests).astype(int)]
    for u in users:
        rec.for_user(str(u), k=10)
    steps.mark(f"{args.requests} recommendations after load", loaded)
    top: list[dict[str, Any]] = []
    if args.trace:
        snap = tracemalloc.take_snapshot()
        top = [{"site": str(s.traceback[0]), "mb": round(s.size / MiB, 1), "blocks": s.count}
               for s in snap.statistics("lineno")[:25]]
    pool = pa.default_memory_pool()
    arrow = {"backend": pool.backend_name, "allocated_mb": round(pool.bytes_allocated() / MiB, 1)}
    gc.collect()
    trimmed = rollup()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    steps.mark("gc.collect() + glibc malloc_trim(0) (heap freed but kept by the allocators)", trimmed)
    end = rollup()
    report = {"benchmark": "memory-breakdown", "index": str(args.index), "items": len(served.art.items),
              "factory": served.art.manifest.index.factory, "traced": args.trace,
              "start_mb": {k: round(v, 1) for k, v in start.items()},
              "after_load_mb": {k: round(v, 1) for k, v in loaded.items()},
              "end_mb": {k: round(v, 1) for k, v in end.items()},
              "load_anon_mb": round(loaded["anon"] - before_load["anon"], 1), "arrow_pool": arrow,
              "steps": steps.rows, "objects_mb": sizes(served.art, served), "tracemalloc_top": top}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(json.dumps(report, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
