"""OpenVINO engine (optional extra ``recsys[openvino]``): the unfused ONNX export converted to OpenVINO IR.

On CPUs with AMX matrix tiles (the ``amx_bf16`` flag) OpenVINO runs the model's float ops in bf16, and
that is where it pays: on a 2-core AMX machine it encodes MiniLM and e5 faster than onnxruntime int8.
Elsewhere it runs fp32, no faster than the other engines, so `choose_cpu_engine` only picks it with AMX.

Two IR recipes (`openvino_int8.choose_openvino_recipe`): with AMX int8 tiles, "int8" (weight MatMuls
quantized by NNCF, the rest bf16: cosine ≥ 0.99 to torch fp32 on every sample text, and faster than
bf16); else "fp16" (fp16 weights, run in bf16 on AMX: cosine ≈ 0.9999). The compiled model has one
stream per usable core, each single-threaded, and the texts run as small runs on all streams at once
(`runs.RunPool`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path
from queue import SimpleQueue
from typing import Any, Literal

import numpy as np

from recsys.encoders.base import Encoder, TextKind
from recsys.encoders.onnx_export import copy_tokenizer_files, export_onnx
from recsys.encoders.openvino_int8 import OpenVinoRecipe, quantize_model
from recsys.encoders.runs import RunPool, load_tokenizer, usable_cores
from recsys.errors import EncoderError

__all__ = ["OpenVinoEncoder", "write_openvino_folder", "openvino_installed", "choose_cpu_engine", "IR_FILE",
           "OPENVINO_RUN_BATCH"]

IR_FILE = "model.xml"
#: Texts per inference request (runs of 8, 16 and 32 were timed: benchmarks/README.md, encoder engines).
OPENVINO_RUN_BATCH = 8
_INSTALL_HINT = "install the optional extra: pip install 'recsys[openvino]'"


def openvino_installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


def choose_cpu_engine(flags: Iterable[str], *, openvino: bool) -> Literal["openvino", "onnx-int8"]:
    """The faster CPU engine for a CPU with these instruction-set flags: OpenVINO (int8 and bf16) where AMX
    tiles exist and OpenVINO is installed, else onnxruntime int8 (VNNI or 7-bit AVX2 weights)."""
    return "openvino" if openvino and "amx_bf16" in set(flags) else "onnx-int8"


def write_openvino_folder(model_dir: Path, out: Path, recipe: OpenVinoRecipe = "fp16", *, passage_prefix: str = "",
                          max_seq_length: int = 256, calibration: list[str] | None = None) -> None:
    """Export `model_dir` to unfused fp32 ONNX, convert it to IR (int8 weight MatMuls calibrated on
    `passage_prefix` + `calibration` texts for the "int8" recipe), save it with its float weights in fp16,
    and copy the tokenizer."""
    try:
        import openvino as ov
    except ImportError as exc:
        raise EncoderError(f"the openvino engine needs the openvino package; {_INSTALL_HINT}") from exc
    onnx_file = out / "model-fp32.onnx"
    export_onnx(model_dir, onnx_file, fuse=False)
    if recipe == "int8":
        # NNCF gets the graph as read from ONNX, attention still plain MatMuls. On convert_model's fused
        # graph it placed its quantizers differently, and the worst MiniLM sample text fell from cosine
        # 0.994 to 0.928 against torch fp32 (mean 0.9969 -> 0.9964), and it encoded no faster.
        model = quantize_model(ov.Core().read_model(str(onnx_file)), model_dir, prefix=passage_prefix,
                               max_seq_length=max_seq_length, texts=calibration)
    else:
        model = ov.convert_model(str(onnx_file))
    ov.save_model(model, str(out / IR_FILE), compress_to_fp16=True)
    onnx_file.unlink()
    copy_tokenizer_files(model_dir, out)


class OpenVinoEncoder(Encoder):
    def __init__(
        self,
        folder: Path,
        *,
        name: str,
        revision: str,
        query_prefix: str = "",
        passage_prefix: str = "",
        max_seq_length: int = 256,
        streams: int | None = None,
        run_batch: int = OPENVINO_RUN_BATCH,
        precision: Literal["default", "f32"] = "default",
    ) -> None:
        try:
            import openvino as ov
        except ImportError as exc:
            raise EncoderError(f"the openvino engine needs the openvino package; {_INSTALL_HINT}") from exc
        model_file = folder / IR_FILE
        if not model_file.is_file():
            raise EncoderError(f"the OpenVINO encoder folder {folder} has no {IR_FILE}; rebuild it")
        self._runs = RunPool(streams or usable_cores())
        config: dict[str, Any] = {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": self._runs.streams,
                                  "INFERENCE_NUM_THREADS": max(self._runs.streams, usable_cores())}
        if precision == "f32":
            config["INFERENCE_PRECISION_HINT"] = "f32"
        core = ov.Core()
        try:
            model = core.read_model(str(model_file))
            self._compiled = core.compile_model(model, "CPU", config)
        except Exception as exc:  # re-raised typed: openvino raises RuntimeError for any bad model
            raise EncoderError(f"OpenVINO could not load {model_file}: {exc}; delete {folder} and rebuild") from exc
        # One infer request per stream; a run borrows one, so concurrent encode() calls never share a request.
        self._requests: SimpleQueue[Any] = SimpleQueue()
        for _ in range(self._runs.streams):
            self._requests.put(self._compiled.create_infer_request())
        # OpenVINO prepares its kernels once per input shape: rounding lengths up to 16 means 8× fewer
        # shapes, which made the first pass over new texts 12-16% faster (onnxruntime, which has no such
        # cost, only pays for the padding there).
        self._feed = load_tokenizer(folder, max_seq_length, pad_to_multiple_of=16)
        self._inputs = {p.get_any_name() for p in self._compiled.inputs}
        self.name, self.revision = name, revision
        #: What OpenVINO chose for this CPU's float ops: "bf16" on AMX/AVX-512-BF16 CPUs, else "f32".
        self.precision = str(self._compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name())
        #: True for an IR of the "int8" recipe (its quantized MatMuls read FakeQuantize outputs).
        self.int8 = any(op.get_type_name() == "FakeQuantize" for op in model.get_ops())
        self.engine = "openvino-int8" if self.int8 else f"openvino-{self.precision}"
        self.dim = int(self._compiled.outputs[0].get_partial_shape()[-1].get_length())
        self.max_seq_length = max_seq_length
        self.run_batch = run_batch
        self._prefix = {"query": query_prefix, "passage": passage_prefix}
        # One run on this thread first: pybind11 initialises its numpy bridge on the first tensor access,
        # and two streams doing that at once deadlock (seen with openvino 2026.4).
        self._run([""])

    def _run(self, texts: list[str]) -> np.ndarray:
        feed = self._feed(texts)
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        request = self._requests.get()
        try:
            return np.array(request.infer(feed)[0], np.float32)  # copy: the request reuses its output buffer
        finally:
            self._requests.put(request)

    def _encode_sorted(self, texts: list[str], kind: TextKind, batch_size: int, progress: bool) -> np.ndarray:
        prefix = self._prefix[kind]
        return self._runs.run_parallel([prefix + t for t in texts], self._run, self.dim,
                                       min(batch_size, self.run_batch))
