"""Int8 OpenVINO IR by post-training quantization (NNCF, part of the optional extra ``recsys[openvino]``).

Where the CPU has AMX int8 tiles (`choose_openvino_recipe`), the OpenVINO engine's IR has int8 weight
MatMuls: NNCF inserts per-channel weight and calibrated activation quantizers (FakeQuantize) in front of
every MatMul with a weight operand, and OpenVINO runs them as int8 products. Everything else stays float
and runs bf16: with ``model_type=TRANSFORMER`` NNCF leaves softmax, LayerNorm and GELU alone, and the two
activation×activation MatMuls of each attention layer (Q·Kᵀ and softmax·V) are excluded by name (and the
ScaledDotProductAttention op, in a graph where attention is fused into one). Quantizing attention's
MatMuls too was no faster and dropped the worst MiniLM sample text to cosine 0.93 against torch fp32
(benchmarks/README.md, encoder engines); without them the worst text stays above 0.99.

Activation ranges come from `calibration_texts.txt`: 316 product texts of the shipped sample
(data/amazon2018_gift_cards), the ones bench_encode.py never times, run as batches of 8.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from recsys.encoders.runs import Feed, load_tokenizer
from recsys.errors import EncoderError

__all__ = ["OpenVinoRecipe", "choose_openvino_recipe", "nncf_installed", "calibration_texts", "attention_matmuls",
           "quantize_model", "CALIBRATION_FILE"]

#: "int8": int8 weight MatMuls (NNCF); "fp16": fp16 weights, run in bf16 on AMX CPUs and in fp32 elsewhere.
OpenVinoRecipe = Literal["int8", "fp16"]
CALIBRATION_FILE = Path(__file__).with_name("calibration_texts.txt")
_CALIBRATION_BATCH = 8
# Ops between a weight and the MatMul that reads it (the ONNX export stores some weights transposed).
_WEIGHT_PATH_OPS = {"Convert", "Transpose", "Reshape"}


def nncf_installed() -> bool:
    return importlib.util.find_spec("nncf") is not None


def choose_openvino_recipe(flags: Iterable[str], *, nncf: bool) -> OpenVinoRecipe:
    """Int8 where AMX int8 tiles exist (and NNCF is installed to build it), else the fp16-weight IR.

    Measured only on AMX CPUs: int8 was 4-14% faster than bf16 there. On VNNI-only CPUs `choose_cpu_engine`
    picks onnxruntime int8, so the OpenVINO recipe there only matters when asked for by name.
    """
    return "int8" if nncf and "amx_int8" in set(flags) else "fp16"


def calibration_texts() -> list[str]:
    return [t for t in CALIBRATION_FILE.read_text(encoding="utf-8").split("\n") if t]


def attention_matmuls(model: Any) -> list[str]:
    """Names of the MatMuls of an `openvino.Model` whose two operands are both activations (no weight)."""

    def is_weight(output: Any) -> bool:
        node = output.get_node()
        while node.get_type_name() in _WEIGHT_PATH_OPS:
            node = node.input_value(0).get_node()
        return bool(node.get_type_name() == "Constant")

    return [op.get_friendly_name() for op in model.get_ops()
            if op.get_type_name() == "MatMul" and not any(is_weight(op.input_value(i)) for i in range(2))]


def calibration_feeds(tokenizer_dir: Path, texts: list[str], *, prefix: str, max_seq_length: int,
                      inputs: set[str]) -> list[Feed]:
    """The texts as model inputs, in batches of 8 padded like the engine pads them (to a multiple of 16)."""
    feed = load_tokenizer(tokenizer_dir, max_seq_length, pad_to_multiple_of=16)
    feeds = []
    for start in range(0, len(texts), _CALIBRATION_BATCH):
        f = feed([prefix + t for t in texts[start : start + _CALIBRATION_BATCH]])
        if "token_type_ids" in inputs:
            f["token_type_ids"] = np.zeros_like(f["input_ids"])
        feeds.append(f)
    return feeds


def quantize_model(model: Any, tokenizer_dir: Path, *, prefix: str = "", max_seq_length: int = 256,
                   texts: list[str] | None = None, quantize_attention: bool = False) -> Any:
    """The `openvino.Model` with int8 weight MatMuls, calibrated on `texts` (default: calibration_texts()).

    `quantize_attention` lets NNCF quantize attention too (a measured road not taken, kept for the
    benchmark's variants).
    """
    try:
        import nncf
        from nncf.common.logging import nncf_logger
    except ImportError as exc:
        raise EncoderError("the int8 OpenVINO recipe needs the nncf package; install the optional extra: "
                           "pip install 'recsys[openvino]'") from exc
    nncf_logger.setLevel(logging.WARNING)  # it logs every op it leaves alone at INFO
    inputs = {p.get_any_name() for p in model.inputs}
    feeds = calibration_feeds(tokenizer_dir, calibration_texts() if texts is None else texts, prefix=prefix,
                              max_seq_length=max_seq_length, inputs=inputs)
    if not feeds:
        raise EncoderError("the int8 OpenVINO recipe needs at least one calibration text")
    # validate=False: a graph has either the fused op or the attention MatMuls, not both.
    ignored = nncf.IgnoredScope() if quantize_attention else nncf.IgnoredScope(
        names=attention_matmuls(model), types=["ScaledDotProductAttention"], validate=False)
    try:
        return nncf.quantize(model, nncf.Dataset(feeds), model_type=nncf.ModelType.TRANSFORMER,
                             subset_size=len(feeds), ignored_scope=ignored)
    except Exception as exc:  # re-raised typed: NNCF raises its own and openvino's exception types
        raise EncoderError(f"NNCF could not quantize the model: {exc}") from exc
