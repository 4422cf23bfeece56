"""Pick an encoder by name and engine. Names are what manifests record and configs select.

Engines of the same model give compatible vectors (same name, dim and revision; mean cosine ≥ 0.99), so
an index built with one engine can be queried with another; the manifest records which engine built it.

    "torch"      sentence-transformers: CPU fp32, or CUDA fp16 when a GPU is visible
    "onnx-int8"  onnxruntime on CPU, int8 weights; the export is built once into the encoder cache
    "auto"       torch on CUDA; on CPU onnx-int8 when its cache folder is prepared, else torch
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

from recsys.encoders.base import Encoder
from recsys.encoders.cache import cache_root, ensure_folder, prepare_hint
from recsys.encoders.models import E5_NAME, MINILM_NAME, ModelSpec, model_spec
from recsys.encoders.onnx_export import QuantConfig, choose_quant_config, cpu_flags, write_onnx_folder
from recsys.encoders.sentence import folder_revision
from recsys.errors import EncoderError

__all__ = ["make_encoder", "available_encoders", "DEFAULT_ENCODER", "Engine", "ENGINES", "onnx_folder",
           "query_engine"]

DEFAULT_ENCODER = MINILM_NAME
Engine = Literal["torch", "onnx-int8", "auto"]
ENGINES: tuple[str, ...] = get_args(Engine)
_HASHING = re.compile(r"^hashing(?:-(\d+))?$")
_ONNX_FORMAT = 4  # bump when write_onnx_folder's output changes


def available_encoders() -> list[str]:
    """Built-in names; `make_encoder` also takes ``hashing-N`` for any N and a fine-tuned model folder's path."""
    return [MINILM_NAME, E5_NAME, "hashing-256"]


def query_engine(recorded: str) -> Engine:
    """Engine for query-time encoding against an index whose manifest recorded `recorded`: ONNX int8
    when the index was built with it *and* its cache folder is prepared on this machine (never a
    minutes-long export inside a request), torch otherwise. Vectors of both engines are compatible."""
    return "auto" if recorded.startswith("onnx") else "torch"


@lru_cache(maxsize=8)
def make_encoder(name: str = DEFAULT_ENCODER, device: str = "auto", engine: Engine = "torch") -> Encoder:
    """Return the encoder called `name` run by `engine` (cached: loading a Transformer takes seconds).

    `name` is a built-in model name, ``hashing-N``, or the path of a fine-tuned model folder.
    """
    if engine not in ENGINES:
        raise EncoderError(f"unknown encoder engine {engine!r}; choose one of {', '.join(ENGINES)}")
    m = _HASHING.match(name)
    if m:
        from recsys.encoders.hashing import HashingEncoder

        return HashingEncoder(dim=int(m.group(1) or 256))
    spec = model_spec(name)
    if engine == "auto":
        engine = _auto_engine(spec, device)
    if engine == "onnx-int8":
        if device.startswith("cuda"):
            raise EncoderError("the onnx-int8 engine runs on CPU only; use --engine torch for CUDA")
        return _onnx_encoder(spec)
    from recsys.encoders.sentence import SentenceTransformerEncoder

    return SentenceTransformerEncoder(spec.folder(True), name=spec.name, device=device,
                                      query_prefix=spec.query_prefix, passage_prefix=spec.passage_prefix,
                                      max_seq_length=spec.max_seq_length, revision=spec.revision or None)


def _auto_engine(spec: ModelSpec, device: str) -> Engine:
    if not spec.onnx or device.startswith("cuda") or (device == "auto" and _cuda_available()):
        return "torch"
    try:
        onnx_folder(spec.name, allow_build=False)
    except EncoderError:  # not prepared: torch runs without any build step
        return "torch"
    return "onnx-int8"


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _onnx_location(spec: ModelSpec, source_dir: Path, quant: QuantConfig) -> tuple[Path, dict[str, object]]:
    revision = spec.revision or folder_revision(source_dir)
    folder = cache_root() / "onnx" / f"{spec.name}-{revision}-int8-{quant.name}"
    source = {"model": spec.name, "revision": revision, "quant": quant.as_dict(), "format": _ONNX_FORMAT}
    return folder, source


def onnx_folder(name: str, *, allow_build: bool = True, quant: QuantConfig | None = None) -> Path:
    """The cached int8 ONNX export of model `name` (built on first use unless `allow_build` is False)."""
    spec = model_spec(name)
    if not spec.onnx:
        raise EncoderError(f"encoder {name!r} has no ONNX engine (fine-tuned folders run with --engine torch)")
    source_dir = spec.folder(allow_build)
    q = quant or choose_quant_config(cpu_flags())
    folder, source = _onnx_location(spec, source_dir, q)
    return ensure_folder(folder, source, lambda tmp: write_onnx_folder(source_dir, tmp, q),
                         allow_build=allow_build, hint=prepare_hint(spec.name, "onnx-int8"))


def _onnx_encoder(spec: ModelSpec) -> Encoder:
    from recsys.encoders.onnx import OnnxEncoder

    folder = onnx_folder(spec.name)
    source_dir = spec.folder(False)
    return OnnxEncoder(folder, name=spec.name, revision=spec.revision or folder_revision(source_dir),
                       query_prefix=spec.query_prefix, passage_prefix=spec.passage_prefix,
                       max_seq_length=spec.max_seq_length or 512)
