"""Engine variants that `bench_encode.py --variants all` times beside the production engines.

They are the roads tried on the way to the production engines, kept so each claim in
benchmarks/README.md can be re-measured: onnxruntime int8 recipes (fused or unfused graph, signed or
unsigned weights, per-channel or per-tensor scales, 7-bit weights, static calibrated QDQ), OpenVINO's
other IRs (fp16 weights run in bf16, the production recipe where AMX has no int8 tiles; int8 with the
attention MatMuls quantized too; the static QDQ ONNX converted to IR), OpenVINO in fp32 and with other
run sizes, torch with two single-threaded streams. Each variant model is built once
into ``$RECSYS_CACHE_DIR/bench-variants`` (its build time is not timed).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from recsys.encoders import Encoder, TextKind, cache_root
from recsys.encoders.models import model_spec
from recsys.encoders.onnx import OnnxEncoder
from recsys.encoders.onnx_export import ONNX_FILE, QuantConfig, copy_tokenizer_files, export_onnx
from recsys.encoders.sentence import SentenceTransformerEncoder, folder_revision

__all__ = ["TorchStreams", "torch_variants", "onnx_variants", "openvino_variants", "QUANT_RECIPES"]

#: name → (graph, quantize_dynamic keyword arguments) or "static" for calibrated QDQ.
_S8 = {"per_channel": True, "reduce_range": False, "weight": "s8"}
QUANT_RECIPES: dict[str, tuple[str, dict[str, object]]] = {
    "fused s8 per-channel (production before)": ("fused", _S8),
    "fused u8 weights": ("fused", {**_S8, "weight": "u8"}),
    "fused per-tensor": ("fused", {**_S8, "per_channel": False}),
    "fused 7-bit (reduce_range)": ("fused", {**_S8, "reduce_range": True}),
    "unfused s8 per-channel (production on VNNI)": ("raw", _S8),
    "static QDQ u8 act, weight MatMuls": ("raw", {"static": "u8"}),
}


class TorchStreams(Encoder):
    """torch fp32 as two single-threaded streams: each half of a call's texts on its own model copy."""

    def __init__(self, name: str) -> None:
        spec = model_spec(name)
        self._encs = [SentenceTransformerEncoder(spec.folder(False), name=spec.name, device="cpu",
                                                 query_prefix=spec.query_prefix, passage_prefix=spec.passage_prefix,
                                                 max_seq_length=spec.max_seq_length) for _ in range(2)]
        self.name, self.dim, self.engine = spec.name, self._encs[0].dim, "torch-cpu-fp32-2streams"

    def _encode_sorted(self, texts: list[str], kind: TextKind, batch_size: int, progress: bool) -> np.ndarray:
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(1)
        # Every other text to each stream, so both get the same mix of lengths (the list is length-sorted).
        halves = [texts[0::2], texts[1::2]]
        out: list[np.ndarray] = [np.empty((0, self.dim), np.float32)] * 2

        def work(i: int) -> None:
            out[i] = self._encs[i]._encode_sorted(halves[i], kind, batch_size, progress)

        try:
            threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            torch.set_num_threads(before)
        merged = np.empty((len(texts), self.dim), np.float32)
        merged[0::2], merged[1::2] = out
        return merged


class FixedBatch(Encoder):
    """Another encoder run with its own batch size, whatever the caller asks for."""

    def __init__(self, inner: Encoder, batch_size: int, label: str) -> None:
        self._inner, self._batch = inner, batch_size
        self.name, self.dim, self.engine = inner.name, inner.dim, f"{inner.engine} {label}"

    def _encode_sorted(self, texts: list[str], kind: TextKind, batch_size: int, progress: bool) -> np.ndarray:
        return self._inner._encode_sorted(texts, kind, self._batch, progress)


def torch_variants(name: str) -> dict[str, Callable[[], Encoder]]:
    """torch fp32 with batches of 16 and 32, and torch with bf16 weights (oneDNN uses AMX where present)."""
    import torch

    spec = model_spec(name)

    def fp32(batch: int) -> Callable[[], Encoder]:
        return lambda: FixedBatch(SentenceTransformerEncoder(
            spec.folder(False), name=spec.name, device="cpu", query_prefix=spec.query_prefix,
            passage_prefix=spec.passage_prefix, max_seq_length=spec.max_seq_length), batch, f"batch {batch}")

    def bf16() -> Encoder:
        enc = SentenceTransformerEncoder(spec.folder(False), name=spec.name, device="cpu",
                                         query_prefix=spec.query_prefix, passage_prefix=spec.passage_prefix,
                                         max_seq_length=spec.max_seq_length)
        enc._model.to(torch.bfloat16)
        enc.engine = "torch-cpu-bf16"
        return enc

    return {"torch-cpu-fp32 batch 16": fp32(16), "torch-cpu-fp32 batch 32": fp32(32), "torch-cpu-bf16": bf16}


def _variant_dir(name: str) -> Path:
    spec = model_spec(name)
    return cache_root() / "bench-variants" / f"{spec.name}-{folder_revision(spec.folder(False))}"


def _graph(name: str, kind: str) -> Path:
    """The fp32 ONNX graph (``fused`` by onnxruntime's BERT optimizer, or ``raw``), exported once."""
    path = _variant_dir(name) / f"{kind}-fp32.onnx"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        export_onnx(model_spec(name).folder(False), path, fuse=kind == "fused")
    return path


def _quantize(name: str, recipe: str, out: Path, calibration: list[str]) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph, kw = QUANT_RECIPES[recipe]
    src = _graph(name, graph)
    if "static" in kw:
        _quantize_static(name, src, out, calibration)
        return
    quantize_dynamic(str(src), str(out), per_channel=bool(kw["per_channel"]), reduce_range=bool(kw["reduce_range"]),
                     weight_type=QuantType.QInt8 if kw["weight"] == "s8" else QuantType.QUInt8,
                     op_types_to_quantize=list(QuantConfig("x", True, False, fused=graph == "fused").op_types),
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def _quantize_static(name: str, src: Path, out: Path, calibration: list[str]) -> None:
    """Calibrated int8 QDQ of the weight MatMuls (activation×activation products in attention stay fp32)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from recsys.encoders.runs import load_tokenizer

    spec = model_spec(name)
    feed = load_tokenizer(spec.folder(False), spec.max_seq_length or 512)
    batches = [feed([spec.passage_prefix + t for t in calibration[s : s + 8]]) for s in range(0, len(calibration), 8)]
    graph = onnx.load(str(src))
    weights = {i.name for i in graph.graph.initializer}
    act_products = [n.name for n in graph.graph.node
                    if n.op_type == "MatMul" and not any(i in weights for i in n.input)]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    quantize_static(str(src), str(out), Reader(), quant_format=QuantFormat.QDQ, op_types_to_quantize=["MatMul"],
                    nodes_to_exclude=act_products, per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)


def onnx_variants(name: str, calibration: list[str]) -> dict[str, Callable[[], Encoder]]:
    """Label → encoder factory for every onnxruntime int8 recipe (built into the variants folder first)."""
    spec = model_spec(name)
    base = _variant_dir(name)
    made: dict[str, Callable[[], Encoder]] = {}
    for i, recipe in enumerate(QUANT_RECIPES):
        folder = base / f"ort-{i}"
        if not (folder / ONNX_FILE).is_file():
            tmp = base / f"ort-{i}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            _quantize(name, recipe, tmp / ONNX_FILE, calibration)
            copy_tokenizer_files(spec.folder(False), tmp)
            shutil.rmtree(folder, ignore_errors=True)
            tmp.rename(folder)

        def make(folder: Path = folder, recipe: str = recipe) -> Encoder:
            return OnnxEncoder(folder, name=spec.name, revision="variant", engine=f"onnx-int8 {recipe}",
                               query_prefix=spec.query_prefix, passage_prefix=spec.passage_prefix,
                               max_seq_length=spec.max_seq_length or 512)

        made[f"onnx-int8 {recipe}"] = make
    return made


def _openvino_ir(name: str, kind: str) -> Path:
    """A variant IR folder: ``qdq`` (the static QDQ ONNX converted) or ``int8-attention`` (NNCF on the
    unfused graph read as is, so attention stays plain MatMuls, quantized like the others)."""
    import openvino as ov

    from recsys.encoders.openvino_engine import IR_FILE
    from recsys.encoders.openvino_int8 import quantize_model

    spec = model_spec(name)
    folder = _variant_dir(name) / f"ov-{kind}"
    if not (folder / IR_FILE).is_file():
        folder.mkdir(parents=True, exist_ok=True)
        if kind == "qdq":
            qdq = _variant_dir(name) / f"ort-{list(QUANT_RECIPES).index('static QDQ u8 act, weight MatMuls')}"
            model = ov.convert_model(str(qdq / ONNX_FILE))
        else:
            model = quantize_model(ov.Core().read_model(str(_graph(name, "raw"))), spec.folder(False),
                                   prefix=spec.passage_prefix, max_seq_length=spec.max_seq_length or 512,
                                   quantize_attention=True)
        ov.save_model(model, str(folder / IR_FILE))
        copy_tokenizer_files(spec.folder(False), folder)
    return folder


def openvino_variants(name: str) -> dict[str, Callable[[], Encoder]]:
    """OpenVINO's other IRs, the production IR in fp32, with one 2-thread stream and with other run sizes.

    Call after `onnx_variants` (the QDQ variant converts its static QDQ model)."""
    from recsys.encoders import openvino_folder
    from recsys.encoders.openvino_engine import OpenVinoEncoder

    spec = model_spec(name)
    folder = openvino_folder(name)

    def make(label: str, at: Path = folder, **kw: object) -> tuple[str, Callable[[], Encoder]]:
        def f() -> Encoder:
            enc = OpenVinoEncoder(at, name=spec.name, revision="variant", query_prefix=spec.query_prefix,
                                  passage_prefix=spec.passage_prefix, max_seq_length=spec.max_seq_length or 512,
                                  **kw)  # type: ignore[arg-type]
            enc.engine = f"{enc.engine} {label}"
            return enc
        return f"openvino {label}", f

    irs = [make("fp16 IR (bf16)", openvino_folder(name, recipe="fp16")),
           make("int8 incl. attention", _openvino_ir(name, "int8-attention")),
           make("int8 from static QDQ ONNX", _openvino_ir(name, "qdq"))]
    return dict([*irs, make("f32", precision="f32"), make("1 stream x 2 threads", streams=1),
                 make("runs of 16", run_batch=16), make("runs of 32", run_batch=32)])
