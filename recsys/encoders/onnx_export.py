"""Export a sentence-transformers folder to ONNX once, then quantize it to int8 for CPU.

The graph includes mean pooling and L2 normalisation, so the runtime only tokenizes and runs one
session. The quantization recipe is a pure function of the CPU's instruction-set flags
(`choose_quant_config`): on CPUs without VNNI, u8×s8 products go through a 16-bit intermediate that can
saturate, and onnxruntime's remedy is 7-bit weights (``reduce_range``); with VNNI full 8-bit is exact.
With VNNI the unfused graph (onnxruntime fuses what it can when it loads the session) is also faster
than the one fused by its BERT optimizer, whose int8 QAttention is slower than int8 MatMuls plus fp32
attention (benchmarks/README.md, encoder engines); without VNNI the fused graph was the faster one.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from recsys.errors import EncoderError

if TYPE_CHECKING:
    import torch

__all__ = ["QuantConfig", "choose_quant_config", "cpu_flags", "export_onnx", "quantize_onnx", "ONNX_FILE",
           "copy_tokenizer_files", "write_onnx_folder"]

ONNX_FILE = "model.onnx"
_OPSET = 17


@dataclass(frozen=True)
class QuantConfig:
    """Arguments to onnxruntime's `quantize_dynamic`, chosen per CPU family."""

    name: str
    per_channel: bool
    reduce_range: bool
    #: Fuse the graph with onnxruntime's BERT optimizer before quantizing.
    fused: bool = True

    @property
    def op_types(self) -> tuple[str, ...]:
        # Unfused, the word embeddings are a Gather: quantizing it keeps the folder as small as fused.
        return ("MatMul", "Attention", "EmbedLayerNormalization") if self.fused else ("MatMul", "Gather")

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "op_types": list(self.op_types)}


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The instruction-set flags of the first CPU (empty where /proc/cpuinfo does not exist)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def choose_quant_config(flags: Iterable[str]) -> QuantConfig:
    """Pick the int8 recipe for a CPU from its flags (x86 `flags` or ARM `Features`)."""
    f = set(flags)
    if f & {"avx512_vnni", "avx_vnni", "amx_int8"}:
        return QuantConfig("vnni", per_channel=True, reduce_range=False, fused=False)
    if "avx2" in f or "avx512f" in f:
        return QuantConfig("avx2", per_channel=True, reduce_range=True)
    if "asimddp" in f or "asimd" in f:  # ARM: int8 dot products do not saturate
        return QuantConfig("arm64", per_channel=True, reduce_range=False)
    return QuantConfig("generic", per_channel=True, reduce_range=True)


def export_onnx(model_dir: Path, out_file: Path, *, fuse: bool = True) -> None:
    """Export the Transformer + mean pooling + normalize of a sentence-transformers folder to fp32 ONNX,
    then (with `fuse`) fuse it with onnxruntime's BERT optimizer (Attention, EmbedLayerNormalization,
    SkipLayerNorm, BiasGelu). Unfused, the graph holds standard ONNX ops only, which other runtimes read.

    Uses torch's TorchScript exporter with dynamic batch and sequence axes and eager attention: its graph
    matches onnxruntime's fusion patterns (the dynamo graph fuses no Attention), which quantizes to a
    faster int8 model. Vectors match torch at every sequence length (checked by the integration tests).
    """
    import torch
    from transformers import AutoModel

    try:
        bert = AutoModel.from_pretrained(str(model_dir), dtype=torch.float32, attn_implementation="eager",
                                         local_files_only=True).eval()
    except Exception as exc:  # re-raised typed: transformers raises many types for a bad folder
        raise EncoderError(f"could not load {model_dir} for ONNX export: {exc}") from exc
    wrapper = _mean_pooled(bert)
    wrapper.eval()
    ids = torch.ones(2, 16, dtype=torch.long)
    mask = torch.ones(2, 16, dtype=torch.long)
    mask[1, 10:] = 0
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
            "sentence_embedding": {0: "batch"}}
    raw = out_file.with_name(out_file.stem + "-raw.onnx")
    with torch.no_grad():
        torch.onnx.export(wrapper, (ids, mask), str(raw), dynamo=False, opset_version=_OPSET,
                          input_names=["input_ids", "attention_mask"], output_names=["sentence_embedding"],
                          dynamic_axes=axes)
    if not fuse:
        raw.replace(out_file)
        return
    _fuse_bert(raw, out_file, heads=int(bert.config.num_attention_heads), hidden=int(bert.config.hidden_size))
    raw.unlink()


def _fuse_bert(raw: Path, out_file: Path, *, heads: int, hidden: int) -> None:
    from onnxruntime.transformers.optimizer import optimize_model

    fused = optimize_model(str(raw), model_type="bert", num_heads=heads, hidden_size=hidden)
    if fused.get_fused_operator_statistics().get("Attention", 0) == 0:
        raise EncoderError(f"onnxruntime fused no Attention node in {raw.name}; the export no longer matches "
                           "its BERT patterns (check the torch/transformers versions against onnxruntime's)")
    fused.save_model_to_file(str(out_file))


def quantize_onnx(fp32_file: Path, out_file: Path, config: QuantConfig) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Fused contrib ops (Attention, SkipLayerNormalization) defeat shape inference: name their float type.
    quantize_dynamic(str(fp32_file), str(out_file), per_channel=config.per_channel,
                     reduce_range=config.reduce_range, weight_type=QuantType.QInt8,
                     op_types_to_quantize=list(config.op_types),
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def write_onnx_folder(model_dir: Path, out: Path, config: QuantConfig | None) -> None:
    """Write `model.onnx` (int8 when `config` is given, else fp32) and the tokenizer files into `out`."""
    if not (model_dir / "tokenizer.json").is_file():
        raise EncoderError(f"{model_dir} has no tokenizer.json; the ONNX engine needs a fast tokenizer file")
    fp32 = out / ("model-fp32.onnx" if config else ONNX_FILE)
    export_onnx(model_dir, fp32, fuse=config is None or config.fused)
    if config is not None:
        quantize_onnx(fp32, out / ONNX_FILE, config)
        fp32.unlink()
    copy_tokenizer_files(model_dir, out)


def copy_tokenizer_files(model_dir: Path, out: Path) -> None:
    tokenizer = model_dir / "tokenizer.json"
    if not tokenizer.is_file():
        raise EncoderError(f"{model_dir} has no tokenizer.json; the ONNX and OpenVINO engines need a fast "
                           "tokenizer file")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "sentence_bert_config.json"):
        if (model_dir / name).is_file():
            shutil.copy2(model_dir / name, out / name)


def _mean_pooled(bert: torch.nn.Module) -> torch.nn.Module:
    """Wrap a transformers model so its output is the normalized mean-pooled sentence vector."""
    import torch

    class MeanPooled(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(hidden.dtype)
            v = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return v / v.norm(dim=-1, keepdim=True).clamp(min=1e-12)

    return MeanPooled(bert)
