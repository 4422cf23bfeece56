"""Encode throughput of every available encoder engine, measured in one run on the shipped sample's product texts.

    python benchmarks/bench_encode.py --n 1024 --out benchmarks/results/encode.json [--variants all]

For each model (all-MiniLM-L6-v2, multilingual-e5-small) it times torch fp32 on CPU (the reference, as
`recsys build` runs it: batch 64 on every core), torch fp32 as two single-threaded streams (the setting
the other engines use; it can win while other jobs hold a core), onnx-int8, and openvino when installed,
and reports texts/s, the ratio to torch fp32 (and to the faster torch setting) and the cosine of each
vector to the fp32 one.
``--variants all`` adds the roads not taken (encode_variants.py). Cache folders are prepared before
timing (their build time is reported separately as `prepare_s`).

Engines are interleaved: the length-sorted texts are cut into `--slices` runs and every engine encodes
each in turn (rotating the order), so a change in the load from other jobs falls on all engines alike;
each engine's time is its sum over the slices, and the cuts fall on batch boundaries (`length_slices`).
With CUDA it also times torch fp16 on the GPU for each batch size; without, it records why it skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from recsys.cli.evaluate import _git_sha, machine_info  # noqa: E402
from recsys.data.dataset import load_dataset  # noqa: E402
from recsys.encoders import Encoder, make_encoder, onnx_folder, openvino_folder  # noqa: E402
from recsys.encoders.factory import auto_cpu_engines  # noqa: E402
from recsys.encoders.models import model_spec  # noqa: E402
from recsys.encoders.onnx_export import cpu_flags  # noqa: E402
from recsys.encoders.openvino_engine import openvino_installed  # noqa: E402
from recsys.text.builders import product_texts  # noqa: E402

SAMPLE = REPO / "data" / "amazon2018_gift_cards"
MODELS = ("all-MiniLM-L6-v2", "multilingual-e5-small")


def sample_texts(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """`n` distinct product texts in a seeded random order, and the rest (calibration texts, never timed)."""
    texts = list(dict.fromkeys(product_texts(load_dataset(SAMPLE).products)))
    rng = np.random.default_rng(seed)
    shuffled = [texts[i] for i in rng.permutation(len(texts))]
    return shuffled[:n], shuffled[n:]


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def length_slices(texts: list[str], slices: int, batch_size: int) -> list[np.ndarray]:
    """Consecutive runs of the texts in the order `Encoder.encode` sorts them (longest first), cut at
    multiples of `batch_size`: every batch an engine forms inside a slice is one it would form on the
    whole list, so slicing costs no engine extra padding."""
    order = np.array(sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True))
    size = -(-len(texts) // max(1, slices))
    size = -(-size // batch_size) * batch_size
    return [order[s : s + size] for s in range(0, len(texts), size)]


def engines_for(model: str, variants: str, calibration: list[str]) -> dict[str, tuple[Callable[[], Encoder], dict]]:
    """Label → (encoder factory, facts about its folder). The first entry is the fp32 reference."""
    spec = model_spec(model)
    out: dict[str, tuple[Callable[[], Encoder], dict]] = {}

    def timed_prepare(f: Callable[[str], Path]) -> dict:
        t0 = time.perf_counter()
        folder = f(model)
        return {"prepare_s": time.perf_counter() - t0, "folder": folder.name, "folder_bytes": folder_bytes(folder)}

    out["torch-cpu-fp32"] = (lambda: make_encoder(model, device="cpu", engine="torch"),
                             timed_prepare(lambda m: model_spec(m).folder(True)))
    from encode_variants import TorchStreams, onnx_variants, openvino_variants, torch_variants

    out["torch-cpu-fp32 2 streams x 1 thread"] = (lambda: TorchStreams(model), {})
    if variants == "all":
        out.update({k: (f, {}) for k, f in torch_variants(model).items()})
    out["onnx-int8"] = (lambda: make_encoder(model, device="cpu", engine="onnx-int8"), timed_prepare(onnx_folder))
    if openvino_installed():
        out["openvino"] = (lambda: make_encoder(model, device="cpu", engine="openvino"), timed_prepare(openvino_folder))
    if variants == "all":
        from recsys.encoders.onnx import OnnxEncoder

        out["onnx-int8 1 stream x 2 threads"] = (lambda: OnnxEncoder(
            onnx_folder(model), name=spec.name, revision="variant", engine="onnx-int8 1 stream x 2 threads",
            query_prefix=spec.query_prefix, passage_prefix=spec.passage_prefix,
            max_seq_length=spec.max_seq_length or 512, streams=1), {})
        out.update({k: (f, {}) for k, f in onnx_variants(model, calibration).items()})
        if openvino_installed():
            out.update({k: (f, {}) for k, f in openvino_variants(model).items()})
    return out


def bench_cpu(model: str, texts: list[str], calibration: list[str], batch_size: int, slices: int,
              variants: str) -> dict[str, dict[str, object]]:
    engines = engines_for(model, variants, calibration)
    encoders = {label: make() for label, (make, _) in engines.items()}
    for enc in encoders.values():
        enc.encode(texts[:8], batch_size=8)  # warm-up: first-call allocations and lazy initialisation
    seconds = dict.fromkeys(encoders, 0.0)
    vecs = {label: np.empty((len(texts), encoders[label].dim), np.float32) for label in encoders}
    labels = list(encoders)
    for i, part in enumerate(length_slices(texts, slices, batch_size)):
        chunk = [texts[j] for j in part]
        for label in labels[i % len(labels):] + labels[: i % len(labels)]:
            start = time.perf_counter()
            vecs[label][part] = encoders[label].encode(chunk, batch_size=batch_size)
            seconds[label] += time.perf_counter() - start
    ref = labels[0]
    best_torch = min((lab for lab in labels if lab.startswith("torch-cpu-fp32")), key=seconds.__getitem__)
    out: dict[str, dict[str, object]] = {}
    for label, enc in encoders.items():
        cos = (vecs[label] * vecs[ref]).sum(1)
        out[f"{model}:{label}"] = {
            "engine": enc.engine, "texts_per_s": len(texts) / seconds[label],
            "ratio_vs_torch_fp32": seconds[ref] / seconds[label],
            "ratio_vs_best_torch_fp32": seconds[best_torch] / seconds[label], "best_torch": best_torch,
            "mean_cosine_vs_fp32": float(cos.mean()), "min_cosine_vs_fp32": float(cos.min()),
            "seconds": seconds[label], "max_seq_length": model_spec(model).max_seq_length, **engines[label][1]}
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
            enc.encode(texts[:8], batch_size=8)
            start = time.perf_counter()
            vecs = enc.encode(texts, batch_size=bs)
            torch.cuda.synchronize()
            per_batch[str(bs)] = {"texts_per_s": len(texts) / (time.perf_counter() - start),
                                  "mean_cosine_vs_fp32": float((vecs * ref).sum(1).mean())}
        result["engines"][f"{model}:{enc.engine}"] = per_batch  # type: ignore[index]
    return result


def main(argv: list[str] | None = None) -> dict[str, object]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=512, help="product texts to encode per engine")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "encode.json")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--slices", type=int, default=4, help="interleave the engines over this many text slices")
    ap.add_argument("--variants", choices=("production", "all"), default="production")
    ap.add_argument("--gpu-batch-sizes", default="32,128,512")
    args = ap.parse_args(argv)
    texts, calibration = sample_texts(args.n)
    models = tuple(m for m in args.models.split(",") if m)
    flags = cpu_flags()
    report: dict[str, object] = {
        "n_texts": len(texts), "batch_size": args.batch_size, "slices": args.slices, "variants": args.variants,
        "mean_chars": float(np.mean([len(t) for t in texts])), "source": str(SAMPLE.relative_to(REPO)),
        "machine": {**machine_info(), "cpu_flags": sorted(flags & {"avx2", "avx512f", "avx512_vnni", "avx_vnni",
                                                                   "avx512_bf16", "amx_bf16", "amx_int8"})},
        "git_sha": _git_sha(), "auto_cpu_engines": auto_cpu_engines(),
        "note": "every ratio is from this one run (engines interleaved over slices); on a shared machine "
                "the load average, not the engine, can dominate texts/s",
        "load_average_start": os.getloadavg(), "engines": {},
    }
    for model in models:
        report["engines"].update(  # type: ignore[union-attr]
            bench_cpu(model, texts, calibration, args.batch_size, args.slices, args.variants))
    report["gpu"] = bench_gpu(models, texts, [int(b) for b in args.gpu_batch_sizes.split(",") if b])
    report["load_average_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    for name, r in report["engines"].items():  # type: ignore[union-attr]
        print(f"{name:60s} {r['texts_per_s']:8.1f} texts/s  x{r['ratio_vs_torch_fp32']:.2f} "
              f"(x{r['ratio_vs_best_torch_fp32']:.2f} best torch)  "
              f"cos {r['mean_cosine_vs_fp32']:.4f} (min {r['min_cosine_vs_fp32']:.4f})")
    print(f"gpu: {report['gpu']}\nwrote {args.out}")
    return report


if __name__ == "__main__":
    main()
