"""Make an HNSW32,SQ8 copy of a built HNSW32,Flat index version without relinking its graph.

    python benchmarks/sq8_from_hnsw.py --index /tmp/b1m-npy/auto --out /tmp/b1m-sq8/auto [--queries 300]

Building HNSW32,SQ8 at 1M × 384 from scratch takes 7+ minutes on 2 cores (`recsys build
--max-index-memory 1G` chooses it); this helper reuses the existing version's HNSW graph instead: it
trains an 8-bit scalar quantizer on the same seeded sample a build would (`train_sample`,
`train_size("HNSW32,SQ8", n)` rows), encodes every item vector into it, attaches a copy of the graph, and
writes a new version under `--out` whose other files are hard links to the source's (never modified).
The graph was linked over the float32 vectors, so this index differs from a fresh SQ8 build (whose graph
is linked over the decoded codes); the result JSON says so. It then measures recall@10 against exact
search on `--queries` stored user profiles at each efSearch of the ladder, keeps the smallest reaching the
version's target recall (the manifest records it), and the cosine between the stored and the decoded
item vectors. Not part of the test suite; writes benchmarks/results/sq8-from-hnsw-1m.json by default.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import faiss
import numpy as np

from recsys.artifacts import FILES
from recsys.index import Manifest, resolve_version
from recsys.index.choose import EF_SEARCH_LADDER, IndexSpec, train_size
from recsys.index.decoded import DecodedVectors, decode_error
from recsys.index.exact import ground_truth, recall_of
from recsys.index.faiss_index import FaissIndex, add_batched, build_threads, search_threads, train_sample
from recsys.index.manifest import file_digest
from recsys.index.store import new_version_name, point_current
from recsys.index.vectors import VectorTable

REPO = Path(__file__).resolve().parents[1]


def sq8_over_graph(flat: faiss.IndexHNSW, x: np.ndarray, seed: int) -> tuple[faiss.IndexHNSWSQ, dict]:
    """An IndexHNSWSQ holding `x` as 8-bit codes, linked by a copy of `flat`'s graph."""
    n, d = x.shape
    out = faiss.IndexHNSWSQ(d, faiss.ScalarQuantizer.QT_8bit, 32, faiss.METRIC_INNER_PRODUCT)
    storage = faiss.downcast_index(out.storage)
    t0 = time.perf_counter()
    sample = train_sample(x, train_size("HNSW32,SQ8", n), seed)
    with search_threads(build_threads()):
        storage.train(sample)
        t1 = time.perf_counter()
        add_batched(storage, x)
    out.hnsw = flat.hnsw  # SWIG copies the struct: levels, offsets, neighbours, entry point
    out.ntotal = storage.ntotal
    out.is_trained = True
    return out, {"train_n": len(sample), "train_s": round(t1 - t0, 2), "encode_s": round(time.perf_counter() - t1, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="new index root (a version folder is made in it)")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--result", type=Path, default=REPO / "benchmarks" / "results" / "sq8-from-hnsw-1m.json")
    args = ap.parse_args()

    src = resolve_version(args.index)
    manifest = Manifest.load(src)
    if manifest.index.factory != "HNSW32,Flat" or manifest.index.groups_file is not None:
        raise SystemExit(f"{src} holds {manifest.index.factory} (groups: {manifest.index.groups_file}); "
                         "this helper reuses the graph of an undeduplicated HNSW32,Flat index")
    enc = manifest.encoder
    x = VectorTable.load(src / FILES["item_vectors"], expect_model=enc.name, expect_dim=enc.dim, mmap=True).vectors
    flat = faiss.read_index(str(src / FILES["index"]), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
    t0 = time.perf_counter()
    sq8, timing = sq8_over_graph(faiss.downcast_index(flat), np.ascontiguousarray(x), args.seed)
    build_s = time.perf_counter() - t0

    users = VectorTable.load(src / FILES["user_vectors"]).vectors
    rng = np.random.default_rng(args.seed)
    queries = users[np.sort(rng.choice(len(users), size=min(args.queries, len(users)), replace=False))]
    truth = ground_truth(x, queries, 10)
    index = FaissIndex(sq8, IndexSpec("HNSW32,SQ8"))
    target = manifest.index.target_recall or 0.95
    ladder = []
    for ef in (ef for ef in EF_SEARCH_LADDER if ef >= 64):
        index.apply_search_params({"efSearch": ef})
        with search_threads(1):
            t = time.perf_counter()
            recall = recall_of(index, truth)
            qps = len(queries) / (time.perf_counter() - t)
        ladder.append({"efSearch": ef, "recall_at_10": round(recall, 4), "single_query_qps": round(qps, 1)})
    chosen = next((r for r in ladder if r["recall_at_10"] >= target), ladder[-1])
    flat_index = FaissIndex(flat, IndexSpec("HNSW32,Flat", dict(manifest.index.search_params)))
    flat_recall = recall_of(flat_index, truth)

    codes = index.sq8_codes()
    rows = np.sort(rng.choice(len(x), size=min(20_000, len(x)), replace=False))
    decoded = DecodedVectors(codes)[rows]
    cos = (decoded * x[rows]).sum(axis=1) / np.linalg.norm(decoded, axis=1)
    errors = decode_error(codes, x, rows)
    outside = ((x[rows] < codes.vmin) | (x[rows] > codes.vmin + codes.vdiff)).any(axis=1)

    version = new_version_name()
    dst = args.out / version
    dst.mkdir(parents=True)
    for name in manifest.files:
        if name != FILES["index"]:
            os.link(src / name, dst / name)
    faiss.write_index(sq8, str(dst / FILES["index"]))
    files = {**manifest.files, FILES["index"]: file_digest(dst / FILES["index"])}
    info = manifest.index.model_copy(update={
        "factory": "HNSW32,SQ8", "search_params": {"efSearch": chosen["efSearch"]},
        "recall_at_10": chosen["recall_at_10"], "recall_queries": len(queries), "qps": chosen["single_query_qps"],
        "target_met": chosen["recall_at_10"] >= target, "bytes": (dst / FILES["index"]).stat().st_size,
        "tuning": [], "build_seconds": round(build_s, 1),
        "choice": f"HNSW32,SQ8 made by benchmarks/sq8_from_hnsw.py from {src.name}'s HNSW32,Flat graph"})
    manifest.model_copy(update={"version": version, "index": info, "files": files, "parent": None,
                                "checksum": Manifest.checksum_of(files)}).save(dst)
    point_current(args.out, version)

    report = {
        "benchmark": "sq8-from-hnsw", "source": str(src), "out": str(dst), "items": len(x), "dim": int(x.shape[1]),
        "how": "HNSW graph reused from the source HNSW32,Flat index (linked over float32 vectors), SQ8 trained on "
               "a seeded sample and every vector encoded; not a fresh `recsys build --max-index-memory` index",
        **timing, "build_s": round(build_s, 1),
        "index_bytes": {"flat": (src / FILES["index"]).stat().st_size, "sq8": info.bytes},
        "queries": len(queries), "target_recall": target, "efSearch_ladder": ladder, "chosen": chosen,
        "flat_recall_at_10": {"efSearch": manifest.index.search_params, "recall_at_10": round(flat_recall, 4)},
        "decoded_vs_stored": {"rows": len(rows), "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
                              "cosine_p01": float(np.quantile(cos, 0.01)),
                              "half_steps_max_after_clipping": float(errors.max()),
                              "rows_outside_trained_range": int(outside.sum())},
    }
    args.result.parent.mkdir(parents=True, exist_ok=True)
    args.result.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
