"""Encode throughput of every available encoder engine, measured in one run on the shipped sample's product texts.

    python benchmarks/bench_encode.py --n 512 --out benchmarks/results/encode.json [--gpu-batch-sizes 32,128,512]

For each model (all-MiniLM-L6-v2, multilingual-e5-small) it times torch fp32 on CPU (the reference) and
onnx-int8, and reports texts/s, the ratio to torch fp32 and the cosine of each vector to the fp32 one.
Cache folders are prepared before timing (their build time is reported separately as `prepare_s`).
With CUDA it also times torch fp16 on the GPU for each batch size; without, it records why it skipped.
The load average is recorded because on a shared machine it, not the engine, can dominate the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from recsys.cli.evaluate import _git_sha, machine_info  # noqa: E402
from recsys.data.dataset import load_dataset  # noqa: E402
from recsys.encoders import Encoder, make_encoder, onnx_folder  # noqa: E402
from recsys.encoders.models import model_spec  # noqa: E402
from recsys.text.builders import product_texts  # noqa: E402

SAMPLE = REPO / "data" / "amazon2018_gift_cards"
MODELS = ("all-MiniLM-L6-v2", "multilingual-e5-small")


def sample_texts(n: int, seed: int = 0) -> list[str]:
    texts = list(dict.fromkeys(product_texts(load_dataset(SAMPLE).products)))
    rng = np.random.default_rng(seed)
    return [texts[i] for i in rng.permutation(len(texts))[:n]]


def timed_encode(enc: Encoder, texts: list[str], batch_size: int) -> tuple[np.ndarray, float]:
    enc.encode(texts[:8], batch_size=8)  # warm-up: first-call allocations and lazy initialisation
    start = time.perf_counter()
    vecs = enc.encode(texts, batch_size=batch_size)
    return vecs, time.perf_counter() - start


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def bench_cpu(model: str, texts: list[str], batch_size: int) -> dict[str, dict[str, object]]:
    spec = model_spec(model)
    t0 = time.perf_counter()
    source = spec.folder(True)
    prepare_torch = time.perf_counter() - t0
    ref = make_encoder(model, device="cpu", engine="torch")
    ref_vecs, ref_s = timed_encode(ref, texts, batch_size)
    out = {f"{model}:{ref.engine}": {
        "texts_per_s": len(texts) / ref_s, "ratio_vs_torch_fp32": 1.0, "mean_cosine_vs_fp32": 1.0,
        "min_cosine_vs_fp32": 1.0, "seconds": ref_s, "prepare_s": prepare_torch, "folder": source.name,
        "folder_bytes": folder_bytes(source), "max_seq_length": spec.max_seq_length}}
    t0 = time.perf_counter()
    folder = onnx_folder(model)
    prepare_onnx = time.perf_counter() - t0
    enc = make_encoder(model, device="cpu", engine="onnx-int8")
    vecs, secs = timed_encode(enc, texts, batch_size)
    cos = (vecs * ref_vecs).sum(1)
    out[f"{model}:{enc.engine}"] = {
        "texts_per_s": len(texts) / secs, "ratio_vs_torch_fp32": ref_s / secs,
        "mean_cosine_vs_fp32": float(cos.mean()), "min_cosine_vs_fp32": float(cos.min()), "seconds": secs,
        "prepare_s": prepare_onnx, "folder": folder.name, "folder_bytes": folder_bytes(folder),
        "max_seq_length": spec.max_seq_length}
    return out


def bench_gpu(models: tuple[str, ...], texts: list[str], batch_sizes: list[int]) -> dict[str, object]:
    import torch

    if not torch.cuda.is_available():
        return {"skipped": "no CUDA"}
    result: dict[str, object] = {"device": torch.cuda.get_device_name(0), "engines": {}}
    for model in models:
        enc = make_encoder(model, device="cuda", engine="torch")
        ref = make_encoder(model, device="cpu", engine="torch").encode(texts)
        per_batch = {}
        for bs in batch_sizes:
            vecs, secs = timed_encode(enc, texts, bs)
            torch.cuda.synchronize()
            per_batch[str(bs)] = {"texts_per_s": len(texts) / secs,
                                  "mean_cosine_vs_fp32": float((vecs * ref).sum(1).mean())}
        result["engines"][f"{model}:{enc.engine}"] = per_batch  # type: ignore[index]
    return result


def main(argv: list[str] | None = None) -> dict[str, object]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=512, help="product texts to encode per engine")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "encode.json")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--gpu-batch-sizes", default="32,128,512")
    args = ap.parse_args(argv)
    texts = sample_texts(args.n)
    models = tuple(m for m in args.models.split(",") if m)
    report: dict[str, object] = {
        "n_texts": len(texts), "batch_size": args.batch_size,
        "mean_chars": float(np.mean([len(t) for t in texts])), "source": str(SAMPLE.relative_to(REPO)),
        "machine": machine_info(), "git_sha": _git_sha(), "load_average_start": os.getloadavg(),
        "engines": {},
    }
    for model in models:
        report["engines"].update(bench_cpu(model, texts, args.batch_size))  # type: ignore[union-attr]
    report["gpu"] = bench_gpu(models, texts, [int(b) for b in args.gpu_batch_sizes.split(",") if b])
    report["load_average_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    for name, r in report["engines"].items():  # type: ignore[union-attr]
        print(f"{name:45s} {r['texts_per_s']:8.1f} texts/s  x{r['ratio_vs_torch_fp32']:.2f}  "
              f"cos {r['mean_cosine_vs_fp32']:.4f} (min {r['min_cosine_vs_fp32']:.4f})")
    print(f"gpu: {report['gpu']}\nwrote {args.out}")
    return report


if __name__ == "__main__":
    main()
