"""Index benchmark: per factory, where the build's time went (training, adding; all cores), the bytes the
index holds, and at each search parameter recall@10 against exact search, single-query QPS on one thread
and batch QPS; flat-scan efficiency against a memory-bandwidth bound measured in the same run; the
resident memory of a separate process that serves a memory-mapped SQ8 index (from `--rss-min` vectors).

    python benchmarks/bench_index.py --sizes 1000000 --batch 200 --tune-max 0 --rss-min 2000000 \
        --factories Flat SQ8 IVF,SQ8 IVF,Flat HNSW32,Flat HNSW32,SQ8 \
        --out benchmarks/results/bench_index_1m_build.json
    python benchmarks/bench_index.py --sizes 100000 --out benchmarks/results/bench_index_100k.json

Vectors are seeded and clustered (a mixture of anisotropic clusters on the unit sphere), and queries are
held-out draws from the same mixture, so no Transformer runs over a million texts. Each index is built as
`recsys build` builds it (`FaissIndex.build`: the chooser's training sample, batched adds, all cores); the
JSON is rewritten after every factory, and a progress line per ~10 % of the adds gives the rate of a build
that is stopped early.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import faiss
import numpy as np

from recsys.cli.evaluate import _git_sha, machine_info
from recsys.index import FaissIndex, IndexSpec, TuneOptions, tune_index
from recsys.index.autotune import single_query_qps
from recsys.index.choose import EF_SEARCH_LADDER, NPROBE_LADDER, estimate_bytes, ivf_nlist, train_size
from recsys.index.exact import GroundTruth, ground_truth, recall_of
from recsys.index.faiss_index import EF_CONSTRUCTION, search_threads

REPO = Path(__file__).resolve().parents[1]
#: The chooser's candidate families ("IVF," gets the size's list count).
FACTORIES = ("Flat", "SQ8", "IVF,Flat", "IVF,SQ8", "HNSW32,Flat", "HNSW32,SQ8")


def clustered_vectors(n: int, dim: int, seed: int, *, clusters: int = 5000, latent: int = 8) -> np.ndarray:
    """Unit vectors from a seeded mixture: centre + cluster-scaled low-rank spread + small isotropic noise,
    with Zipf-skewed cluster sizes. The parameters were chosen so that its recall-vs-nprobe curve is close to
    the one of real MiniLM product vectors, so index choices measured on it carry over."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    basis = rng.normal(size=(latent, dim)).astype(np.float32)
    spread = rng.uniform(0.6, 1.4, size=clusters).astype(np.float32)
    which = np.random.default_rng(seed + 1).zipf(1.2, size=n) % clusters
    out = np.empty((n, dim), np.float32)
    for a in range(0, n, 100_000):
        c = which[a : a + 100_000]
        z = rng.normal(size=(len(c), latent)).astype(np.float32)
        x = centres[c] + (z @ basis) * spread[c, None] + 0.1 * rng.normal(size=(len(c), dim)).astype(np.float32)
        out[a : a + len(c)] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def bandwidth_gbs(reps: int = 7) -> float:
    """Single-thread read bandwidth: the fastest of several max-reductions (SIMD, nothing to wait on) over
    a 512 MB array, far larger than any cache. Best-of, because other jobs on a shared machine only slow
    it down; the flat scan below is measured the same way so their ratio is fair."""
    a = np.ones(128 << 20, np.float32)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        a.max()
        best = min(best, time.perf_counter() - t0)
    return a.nbytes / best / 1e9


def best_single_qps(index: FaissIndex, queries: np.ndarray, bursts: int = 3) -> float:
    """Fastest of several short single-query bursts on one thread (see `bandwidth_gbs` for why best-of)."""
    return max(single_query_qps(index, queries, budget_s=0.4) for _ in range(bursts))


def batch_qps(index: FaissIndex, queries: np.ndarray, k: int = 10) -> float:
    t0 = time.perf_counter()
    index.search(queries, k)
    return len(queries) / (time.perf_counter() - t0)


def measure(index: FaissIndex, truth: GroundTruth, batch: np.ndarray) -> dict:
    """Recall@10 and speed at the index's current search parameters."""
    row = {"search_params": dict(index.spec.search_params),
           "recall_at_10": round(recall_of(index, truth), 4),
           "single_qps_1thread": round(best_single_qps(index, truth.queries), 1),
           "batch_qps": round(batch_qps(index, batch), 1)}
    print(json.dumps({"factory": index.spec.factory, **row}), flush=True)
    return row


def ladder_rows(index: FaissIndex, truth: GroundTruth, batch: np.ndarray, target: float) -> list[dict]:
    """Measure each search parameter up to the first that reaches `target` and one step beyond."""
    key, ladder = ladder_of(index.spec.factory)
    if not key:
        return [measure(index, truth, batch)]
    rows, reached = [], 0
    for value in ladder:
        index.apply_search_params({key: value})
        rows.append(measure(index, truth, batch))
        reached += rows[-1]["recall_at_10"] >= target
        if reached >= 2:
            break
    return rows


def ladder_of(factory: str) -> tuple[str, tuple[int, ...]]:
    if factory.startswith("HNSW"):
        return "efSearch", EF_SEARCH_LADDER
    if factory.startswith("IVF"):
        nlist = int(factory[3:].split(",")[0])
        return "nprobe", tuple(p for p in NPROBE_LADDER if p <= nlist)
    return "", ()


def build_one(x: np.ndarray, factory: str, nlist: int, seed: int, threads: int | None) -> tuple[FaissIndex, dict]:
    """Build `factory` as `recsys build` does (training sample as `candidate_specs` sizes it, batched adds,
    all cores) and report where the time went, with a progress line per ~10 % of the adds."""
    n, dim = x.shape
    spec = IndexSpec(factory, train_size=train_size(factory, n))
    t0 = time.perf_counter()
    marks: list[float] = []

    def progress(done: int, total: int) -> None:
        if done == total or len(marks) < 10 * done // total:
            marks.append(time.perf_counter() - t0)
            print(f"  {factory}: {done:,}/{total:,} added after {marks[-1]:.1f} s "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)

    idx = FaissIndex.build(x, spec, seed=seed, threads=threads, progress=progress)
    st = idx.build_stats
    info = {"factory": factory, "n": n, "train_n": st.train_n, "threads": st.threads,
            "train_s": round(st.train_s, 2), "add_s": round(st.add_s, 2), "build_s": round(st.build_s, 2),
            "bytes": idx.nbytes(), "est_bytes": estimate_bytes(n, dim, factory),
            "load_avg_1m_after": round(os.getloadavg()[0], 2)}
    if factory.startswith("HNSW"):
        info["efConstruction"] = EF_CONSTRUCTION
    print(json.dumps(info), flush=True)
    return idx, info


def serve_rss(path: Path, factory: str, dim: int, n_queries: int = 2000) -> dict:
    """RSS of a fresh process that memory-maps the index read-only and answers single queries."""
    code = f"""
import json, time, numpy as np, psutil
from recsys.index import FaissIndex, IndexSpec
from recsys.index.faiss_index import set_search_threads
set_search_threads(1)
p = psutil.Process(); base = p.memory_info().rss
idx = FaissIndex.load({str(path)!r}, IndexSpec({factory!r}), mmap=True)
loaded = p.memory_info().rss
q = np.random.default_rng(7).normal(size=({n_queries}, {dim})).astype(np.float32)
q /= np.linalg.norm(q, axis=1, keepdims=True)
t0 = time.perf_counter()
for i in range(len(q)):
    idx.search(q[i:i + 1], 10)
dt = time.perf_counter() - t0
full = p.memory_full_info()
print(json.dumps({{"rss_before_load_mb": base / 1e6, "rss_after_load_mb": loaded / 1e6,
                  "rss_serving_mb": full.rss / 1e6, "uss_serving_mb": full.uss / 1e6,
                  "queries": len(q), "single_qps_1thread": len(q) / dt}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    res = {k: round(v, 1) if isinstance(v, float) else v for k, v in json.loads(out.stdout).items()}
    print(json.dumps({"serve_mmap": factory, **res}), flush=True)
    return {"factory": factory, **res}


def bench_size(n: int, dim: int, args: argparse.Namespace, bw: float, work: Path, sizes: list[dict],
               save: Callable[[], None]) -> None:
    """Measure every factory at `n` vectors into a result appended to `sizes`, saving after each."""
    print(f"== {n:,} × {dim}", flush=True)
    x = clustered_vectors(n + args.queries, dim, args.seed)
    x, qs = x[: n], x[n:]
    truth = ground_truth(x, qs, 10)
    batch = np.ascontiguousarray(np.resize(qs, (args.batch, dim)))
    nlist = min(ivf_nlist(n), args.max_nlist)
    result: dict = {"n": n, "dim": dim, "queries": len(qs), "nlist": nlist, "load_avg_start": os.getloadavg(),
                    "factories": []}
    sizes.append(result)
    for code in args.factories:
        factory = code.replace("IVF,", f"IVF{nlist},")
        if factory.startswith("HNSW") and n > args.hnsw_max:
            continue
        idx, info = build_one(x, factory, nlist, args.seed, args.threads)
        info["search"] = ladder_rows(idx, truth, batch, args.target)
        result["factories"].append(info)
        if factory == "Flat":
            flat_qps = info["search"][0]["single_qps_1thread"]
            bound = bw * 1e9 / (n * dim * 4)
            result.update(flat_bandwidth_bound_qps=round(bound, 1), flat_efficiency=round(flat_qps / bound, 3))
        if "SQ8" in factory and not factory.startswith("HNSW") and n >= args.rss_min:
            path = work / f"{factory.replace(',', '_')}-{n}.faiss"
            idx.save(path)
            result.setdefault("serve_mmap", []).append(serve_rss(path, factory, dim, args.serve_queries))
            path.unlink()
        del idx
        save()
    rows = [(f["factory"], f["build_s"], r) for f in result["factories"] for r in f["search"]]
    ann_ok = [t for t in rows if t[0] not in ("Flat", "SQ8") and t[2]["recall_at_10"] >= args.target]
    flat = next((t[2] for t in rows if t[0] == "Flat"), None)
    if ann_ok:
        f, b, r = max(ann_ok, key=lambda t: t[2]["single_qps_1thread"])
        result["best_ann_at_target"] = {"factory": f, "build_s": b, **r}
        if flat:
            result["best_ann_speedup_vs_flat"] = round(r["single_qps_1thread"] / flat["single_qps_1thread"], 1)
    if n <= args.tune_max:
        t0 = time.perf_counter()
        tuned = tune_index(x, qs, TuneOptions(target_recall=args.target, seed=args.seed))
        result["autotune"] = {"factory": tuned.spec.factory, "search_params": tuned.spec.search_params,
                              "recall_at_10": tuned.recall_at_10, "single_qps_1thread": tuned.qps,
                              "seconds": round(time.perf_counter() - t0, 1),
                              "trials": [asdict(t) for t in tuned.trials]}
        print(json.dumps({"autotune": {k: v for k, v in result["autotune"].items() if k != "trials"}}), flush=True)
    result["load_avg_end"] = os.getloadavg()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--factories", nargs="+", default=list(FACTORIES),
                    help="factory strings to build; 'IVF,' stands for IVF with the size's list count")
    ap.add_argument("--threads", type=int, default=None, help="OpenMP threads for builds (default: all cores)")
    ap.add_argument("--hnsw-max", type=int, default=2_000_000, help="skip HNSW builds above this many vectors")
    ap.add_argument("--tune-max", type=int, default=200_000, help="run the auto-tuner up to this many vectors")
    ap.add_argument("--rss-min", type=int, default=1_000_000, help="measure mmap serving RSS from this size")
    ap.add_argument("--max-nlist", type=int, default=1 << 20, help="cap IVF lists (default: the chooser's 4·√n)")
    ap.add_argument("--batch", type=int, default=1000, help="queries per batch-QPS call")
    ap.add_argument("--serve-queries", type=int, default=2000, help="single queries the mmap serving process answers")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bench_index.json")
    args = ap.parse_args()
    with search_threads(1):
        bw = bandwidth_gbs()
    print(f"single-thread read bandwidth {bw:.1f} GB/s", flush=True)
    report = {"benchmark": "index", "git_sha": _git_sha(), "machine": machine_info(), "faiss": faiss.__version__,
              "bandwidth_gbs_1thread": round(bw, 2), "target_recall": args.target, "sizes": []}
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:  # after every factory, so a long run leaves what it measured so far
        args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")

    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            bench_size(n, args.dim, args, bw, Path(tmp), report["sizes"], save)
            save()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
