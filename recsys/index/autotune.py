"""Index auto-tuning: pick the index type and its search parameters for a target recall@10 within a
memory budget, by measuring rather than guessing.

1. Deduplicate identical vectors (see `dedupe`); everything below works on the unique vectors.
2. Below `EXACT_THRESHOLD` unique vectors, an exact scan is fast enough: Flat (SQ8 if Flat is over budget).
3. Otherwise every candidate family that fits the budget (`candidate_specs`) is built on a seeded sample
   and its search ladder is walked upwards until recall@10 against exact search on held-out queries
   reaches the target. Each family's single-query QPS (one thread) and build time are projected to the
   full size (`projected_qps`, `projected_build_s`) and `choose.prefer` picks among the families that
   reach the target within the budget: the fastest-serving one, unless another serves within 20 % of it
   and builds at least 2× faster.
4. The winner is built on all vectors and its ladder walked again at full size, because recall at a given
   efSearch/nprobe drops as the index grows. Every measurement, with its build time (training and adding)
   and the bytes its index holds, is kept as a `Trial` for the manifest.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np

from recsys.index.base import VectorIndex
from recsys.index.choose import (
    BUILD_SPEEDUP,
    EF_SEARCH_LADDER,
    EXACT_THRESHOLD,
    NPROBE_LADDER,
    SERVE_SLACK,
    IndexSpec,
    Measured,
    candidate_specs,
    estimate_bytes,
    ivf_nlist,
    prefer,
    train_size,
)
from recsys.index.dedupe import DedupedIndex, group_identical, groups_path
from recsys.index.exact import GroundTruth, ground_truth, recall_of
from recsys.index.faiss_index import FaissIndex, search_threads
from recsys.index.manifest import TrialInfo

__all__ = ["TuneOptions", "Trial", "TunedIndex", "tune_index", "single_query_qps", "projected_qps",
           "projected_build_s", "tuning_fields"]


#: The item-to-item ladder is measured on this many times `TuneOptions.n_queries` catalogue items.
ITEM_QUERY_FACTOR = 5


@dataclass(frozen=True)
class TuneOptions:
    target_recall: float = 0.95
    max_memory_bytes: int | None = None
    #: Vectors the candidate families are built on before the winner is built at full size.
    sample_size: int = 50_000
    #: Held-out queries used for every recall and QPS measurement.
    n_queries: int = 200
    exact_threshold: int = EXACT_THRESHOLD
    allow_hnsw: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.target_recall <= 1.0:
            raise ValueError(f"target_recall must be in (0, 1], got {self.target_recall}")
        if self.sample_size < 1000 or self.n_queries < 1:
            raise ValueError(f"sample_size must be ≥ 1000 and n_queries ≥ 1, "
                             f"got {self.sample_size}, {self.n_queries}")


@dataclass(frozen=True)
class Trial:
    factory: str
    search_params: dict[str, int]
    stage: Literal["sample", "full", "items"]
    n: int
    recall_at_10: float
    qps: float
    est_bytes: int
    #: Seconds spent training and adding when this trial's index was built, and the bytes it holds.
    train_s: float = 0.0
    add_s: float = 0.0
    bytes: int = 0

    @property
    def build_s(self) -> float:
        return self.train_s + self.add_s


@dataclass(frozen=True)
class TunedIndex:
    index: VectorIndex  # answers in catalogue positions (a `DedupedIndex` when vectors repeat)
    spec: IndexSpec
    recall_at_10: float
    qps: float
    target_met: bool
    n_unique: int
    trials: tuple[Trial, ...]
    #: Why this family was chosen over the others (empty when the catalogue is small enough to be exact).
    reason: str = ""
    #: Search parameters for item-to-item queries (similar items), tuned for the same target on queries
    #: that are catalogue items; empty: the same as `spec.search_params`.
    item_search_params: dict[str, int] = field(default_factory=dict)
    item_recall_at_10: float | None = None


def single_query_qps(index: VectorIndex, queries: np.ndarray, k: int = 10, *, budget_s: float = 0.3) -> float:
    """Queries per second answering one query at a time on one thread (the online serving pattern)."""
    q = np.ascontiguousarray(queries, np.float32)
    done, t0 = 0, time.perf_counter()
    with search_threads(1):
        while done < len(q) and (done < 5 or time.perf_counter() - t0 < budget_s):
            index.search(q[done : done + 1], k)
            done += 1
    return done / max(time.perf_counter() - t0, 1e-9)


def _ladder(spec: IndexSpec) -> tuple[str, tuple[int, ...]]:
    if spec.factory.startswith("HNSW"):
        return "efSearch", EF_SEARCH_LADDER
    if spec.factory.startswith("IVF"):
        nlist = int(spec.factory[3:].split(",")[0])
        return "nprobe", tuple(p for p in NPROBE_LADDER if p <= nlist)
    return "", ()


def _walk(index: FaissIndex, truth: GroundTruth, target: float, stage: Literal["sample", "full", "items"],
          est_bytes: int, below: int | None = None) -> list[Trial]:
    """Raise the search parameter until the target is met (recall grows with it); one trial per step.
    With `below`, only the ladder's values under it are tried (none may meet the target)."""
    key, ladder = _ladder(index.spec)
    built = index.build_stats
    nbytes = index.nbytes()
    trials: list[Trial] = []
    if below is not None:
        ladder = tuple(v for v in ladder if v < below)
        if not ladder:
            return trials
    for value in ladder or (0,):
        if key:
            index.apply_search_params({key: value})
        recall = recall_of(index, truth)
        trials.append(Trial(index.spec.factory, dict(index.spec.search_params), stage, len(index), round(recall, 4),
                            round(single_query_qps(index, truth.queries), 1), est_bytes,
                            round(built.train_s, 3), round(built.add_s, 3), nbytes))
        if recall >= target:
            break
    return trials


def projected_qps(trial: Trial, n: int) -> float:
    """QPS a sample trial would reach at `n` vectors: scans cost ∝ n, IVF with ≈4√n lists ∝ √n,
    HNSW graph walks ∝ log n. Comparing raw sample QPS would favour exact scans, which slow down most."""
    ratio = max(n, 1) / max(trial.n, 1)
    if trial.factory.startswith("HNSW"):
        return trial.qps * np.log(max(trial.n, 2)) / np.log(max(n, 2))
    if trial.factory.startswith("IVF"):
        return trial.qps / np.sqrt(ratio)
    return trial.qps / ratio


def projected_build_s(trial: Trial, n: int) -> float:
    """Build seconds a sample trial's family would take at `n` vectors. Scans (encoding only) cost ∝ n;
    HNSW linking ∝ n log n; IVF with ≈4√n lists trains on `TRAIN_PER_LIST` points per list (k-means cost ∝
    points × lists ∝ n) and assigns every vector to a list (∝ n × lists ∝ n^1.5)."""
    ratio = max(n, 1) / max(trial.n, 1)
    if trial.factory.startswith("HNSW"):
        return trial.build_s * ratio * np.log(max(n, 2)) / np.log(max(trial.n, 2))
    if trial.factory.startswith("IVF"):
        return trial.train_s * ratio + trial.add_s * ratio**1.5
    return trial.build_s * ratio


def _first_at_target(trials: list[Trial], target: float) -> Trial:
    """A family's trial to compare: the fastest one meeting the target (the ladder stops at the first),
    otherwise its highest recall."""
    ok = [t for t in trials if t.recall_at_10 >= target]
    if ok:
        return max(ok, key=lambda t: t.qps)
    return max(trials, key=lambda t: (t.recall_at_10, t.qps))


def _choose_family(best_of: list[Trial], target: float, n: int, max_bytes: int | None) -> tuple[int, str]:
    """Position in `best_of` of the family to build at `n` vectors (see `choose.prefer`), and why."""
    at_n = [Measured(t.factory, t.recall_at_10, projected_qps(t, n), projected_build_s(t, n), t.est_bytes)
            for t in best_of]
    pick = prefer(at_n, target, max_bytes)
    summary = "; ".join(f"{m.factory} R@10 {m.recall_at_10:.3f}, ≈{m.qps:,.0f} QPS, build ≈{m.build_s:,.0f} s"
                        for m in at_n)
    if pick is None:  # nothing reaches the target: the most accurate family, the ladder may still get there
        pick = max(range(len(best_of)), key=lambda i: (best_of[i].recall_at_10, best_of[i].qps))
        return pick, f"no family reached R@10 {target} on the sample, the most accurate: {summary}"
    rule = (f"fastest-serving at the target unless one within {1 - SERVE_SLACK:.0%} of its QPS builds "
            f"≥ {BUILD_SPEEDUP:g}× faster")
    return pick, f"{at_n[pick].factory} ({rule}), projected to {n:,} vectors: {summary}"


def _held_out(vectors: np.ndarray, queries: np.ndarray | None, opts: TuneOptions,
              rng: np.random.Generator) -> np.ndarray:
    pool = vectors if queries is None or len(queries) == 0 else np.asarray(queries, np.float32)
    take = rng.choice(len(pool), size=min(opts.n_queries, len(pool)), replace=False)
    return np.ascontiguousarray(pool[np.sort(take)], np.float32)


def tune_index(vectors: np.ndarray, queries: np.ndarray | None = None,
               options: TuneOptions = TuneOptions()) -> TunedIndex:
    """Build the index that meets `options.target_recall` fastest within the memory budget.

    `queries` should be realistic held-out query vectors (user profiles); item vectors are used without.
    """
    x = np.ascontiguousarray(vectors, np.float32)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"vectors must be a non-empty (n, dim) matrix, got shape {x.shape}")
    rng = np.random.default_rng(options.seed)
    groups = group_identical(x)
    unique = x[groups.first] if groups.has_duplicates else x
    n, dim = len(unique), x.shape[1]
    specs = candidate_specs(n, dim, max_memory_bytes=options.max_memory_bytes, allow_hnsw=options.allow_hnsw)
    if not specs:
        smallest = min(estimate_bytes(n, dim, f) for f in ("SQ8", f"IVF{ivf_nlist(n)},SQ8"))
        raise ValueError(f"no index type fits {options.max_memory_bytes:,} bytes for {n:,} × {dim} vectors; "
                         f"the smallest needs ≈{smallest:,}: raise the memory budget")
    qs = _held_out(unique, queries, options, rng)
    trials: list[Trial] = []
    reason = ""
    if n < options.exact_threshold:
        chosen = specs[0]  # Flat, or SQ8 when Flat is over budget
    else:
        sample = unique[np.sort(rng.choice(n, size=min(n, options.sample_size), replace=False))]
        s_truth = ground_truth(sample, qs, 10)
        best_of: list[Trial] = []
        for spec in specs:
            s_spec = _rescale(spec, len(sample))
            walked = _walk(FaissIndex.build(sample, s_spec, seed=options.seed), s_truth, options.target_recall,
                           "sample", estimate_bytes(n, dim, spec.factory))
            trials += walked
            best_of.append(_first_at_target(walked, options.target_recall))
        pick, reason = _choose_family(best_of, options.target_recall, n, options.max_memory_bytes)
        chosen = specs[pick]
    full = FaissIndex.build(unique, chosen, seed=options.seed)
    walked = _walk(full, ground_truth(unique, qs, 10), options.target_recall, "full",
                   estimate_bytes(n, dim, chosen.factory))
    trials += walked
    final = walked[-1]
    items = _item_walk(full, unique, options, rng, estimate_bytes(n, dim, chosen.factory))
    trials += items
    met = [t for t in items if t.recall_at_10 >= options.target_recall]
    index: VectorIndex = DedupedIndex(full, groups) if groups.has_duplicates else full
    return TunedIndex(index=index, spec=full.spec, recall_at_10=final.recall_at_10, qps=final.qps,
                      target_met=final.recall_at_10 >= options.target_recall, n_unique=n, trials=tuple(trials),
                      reason=reason, item_search_params=dict(met[0].search_params) if met else {},
                      item_recall_at_10=met[0].recall_at_10 if met else None)


def _item_walk(full: FaissIndex, unique: np.ndarray, options: TuneOptions, rng: np.random.Generator,
               est_bytes: int) -> list[Trial]:
    """The ladder walked again for queries that are catalogue items (similar items), below the value the
    profile queries needed: a catalogue item is a point of the graph itself, and its neighbours are found
    with a far shorter search (1M synthetic items, HNSW32,SQ8: recall@10 0.963 at efSearch 16 for items,
    where profile queries needed 512 for 0.967). The query item itself is among its exact top 10, as in
    every search. The index is left with the profile queries' parameters."""
    key, _ = _ladder(full.spec)
    if not key:
        return []
    chosen = dict(full.spec.search_params)
    # More queries than the profile walk (they are cheap at the low end of the ladder): the first value
    # whose recall crosses the target is taken, and with 200 queries recall@10 varies by about ±0.01.
    queries = _held_out(unique, None, replace(options, n_queries=options.n_queries * ITEM_QUERY_FACTOR), rng)
    try:
        walked = _walk(full, ground_truth(unique, queries, 10), options.target_recall, "items", est_bytes,
                       below=chosen[key])
    finally:
        full.apply_search_params(chosen)
    return walked


def _rescale(spec: IndexSpec, n: int) -> IndexSpec:
    """The same family sized for `n` vectors (IVF list count follows √n; training sets are capped at n)."""
    if spec.factory.startswith("IVF"):
        nlist = ivf_nlist(n)
        code = spec.factory.split(",", 1)[1]
        factory = f"IVF{nlist},{code}"
        return replace(spec, factory=factory, train_size=train_size(factory, n))
    return replace(spec, train_size=min(spec.train_size, n))


def tuning_fields(tuned: TunedIndex, target_recall: float, index_path: Path) -> dict[str, object]:
    """The manifest's `IndexInfo` fields describing a tuned index saved at `index_path`."""
    deduped = isinstance(tuned.index, DedupedIndex)
    return {
        "unique_count": tuned.n_unique,
        "groups_file": groups_path(index_path).name if deduped else None,
        "qps": tuned.qps,
        "target_recall": target_recall,
        "target_met": tuned.target_met,
        "tuning": [TrialInfo(**asdict(t), build_s=round(t.build_s, 3)) for t in tuned.trials],
        "choice": tuned.reason or None,
        "item_search_params": tuned.item_search_params,
        "item_recall_at_10": tuned.item_recall_at_10,
    }
