"""Pick an encoder by name and engine. Names are what manifests record and configs select.

Engines of the same model give compatible vectors (same name, dim and revision; mean cosine ≥ 0.99), so
an index built with one engine can be queried with another; the manifest records which engine built it.

    "torch"      sentence-transformers: CPU fp32, or CUDA fp16 when a GPU is visible
    "onnx-int8"  onnxruntime on CPU, int8 weights; the export is built once into the encoder cache
    "openvino"   OpenVINO on CPU (optional extra): int8 weight MatMuls and bf16 on AMX int8 CPUs, else fp16
                 weights (bf16 on AMX); its IR is built once into the cache, in the recipe for this CPU
    "auto"       torch on CUDA; on CPU the engine `choose_cpu_engine` picks for this CPU when its cache
                 folder is prepared, else the other prepared CPU engine, else torch
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
from recsys.encoders.openvino_engine import choose_cpu_engine, openvino_installed, write_openvino_folder
from recsys.encoders.openvino_int8 import OpenVinoRecipe, choose_openvino_recipe, nncf_installed
from recsys.encoders.sentence import folder_revision
from recsys.errors import EncoderError

__all__ = ["make_encoder", "available_encoders", "DEFAULT_ENCODER", "Engine", "ENGINES", "onnx_folder",
           "openvino_folder", "openvino_recipe", "query_engine", "auto_cpu_engines"]

DEFAULT_ENCODER = MINILM_NAME
Engine = Literal["torch", "onnx-int8", "openvino", "auto"]
ENGINES: tuple[str, ...] = get_args(Engine)
_HASHING = re.compile(r"^hashing(?:-(\d+))?$")
_ONNX_FORMAT = 4  # bump when write_onnx_folder's output changes
_OPENVINO_FORMAT = 2  # bump when write_openvino_folder's output changes


def available_encoders() -> list[str]:
    """Built-in names; `make_encoder` also takes ``hashing-N`` for any N and a fine-tuned model folder's path."""
    return [MINILM_NAME, E5_NAME, "hashing-256"]


def query_engine(recorded: str) -> Engine:
    """Engine for query-time encoding against an index whose manifest recorded `recorded`: when the index
    was built with a CPU engine (ONNX int8, OpenVINO), the one `auto` finds prepared on this machine (never
    a minutes-long export inside a request); torch otherwise. Vectors of all engines are compatible."""
    return "auto" if recorded.startswith(("onnx", "openvino")) else "torch"


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
    if engine in ("onnx-int8", "openvino"):
        if device.startswith("cuda"):
            raise EncoderError(f"the {engine} engine runs on CPU only; use --engine torch for CUDA")
        return _onnx_encoder(spec) if engine == "onnx-int8" else _openvino_encoder(spec)
    from recsys.encoders.sentence import SentenceTransformerEncoder

    return SentenceTransformerEncoder(spec.folder(True), name=spec.name, device=device,
                                      query_prefix=spec.query_prefix, passage_prefix=spec.passage_prefix,
                                      max_seq_length=spec.max_seq_length, revision=spec.revision or None)


def auto_cpu_engines() -> list[Engine]:
    """CPU engines in the order `auto` tries them on this machine: the faster one for this CPU first."""
    first = choose_cpu_engine(cpu_flags(), openvino=openvino_installed())
    rest: list[Engine] = ["onnx-int8", "openvino"] if openvino_installed() else ["onnx-int8"]
    return [first, *[e for e in rest if e != first]]


def _auto_engine(spec: ModelSpec, device: str) -> Engine:
    if not spec.onnx or device.startswith("cuda") or (device == "auto" and _cuda_available()):
        return "torch"
    for engine in auto_cpu_engines():
        try:
            (onnx_folder if engine == "onnx-int8" else openvino_folder)(spec.name, allow_build=False)
        except EncoderError:  # not prepared: try the next; torch runs without any build step
            continue
        return engine
    return "torch"


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


def openvino_recipe() -> OpenVinoRecipe:
    """The OpenVINO IR recipe for this machine's CPU (int8 needs AMX int8 tiles and NNCF)."""
    return choose_openvino_recipe(cpu_flags(), nncf=nncf_installed())


def openvino_folder(name: str, *, allow_build: bool = True, recipe: OpenVinoRecipe | None = None) -> Path:
    """The cached OpenVINO IR of model `name` in `recipe` (default: this CPU's), built on first use unless
    `allow_build` is False."""
    spec = model_spec(name)
    if not spec.onnx:
        raise EncoderError(f"encoder {name!r} has no OpenVINO engine (fine-tuned folders run with --engine torch)")
    if not openvino_installed():
        raise EncoderError("the openvino engine needs the openvino package; install the optional extra: "
                           "pip install 'recsys[openvino]'")
    source_dir = spec.folder(allow_build)
    revision = spec.revision or folder_revision(source_dir)
    r = recipe or openvino_recipe()
    folder = cache_root() / "openvino" / f"{spec.name}-{revision}-{r}"
    source = {"model": spec.name, "revision": revision, "recipe": r, "format": _OPENVINO_FORMAT}

    def write(tmp: Path) -> None:
        write_openvino_folder(source_dir, tmp, r, passage_prefix=spec.passage_prefix,
                              max_seq_length=spec.max_seq_length or 512)

    return ensure_folder(folder, source, write, allow_build=allow_build, hint=prepare_hint(spec.name, "openvino"))


def _openvino_encoder(spec: ModelSpec) -> Encoder:
    from recsys.encoders.openvino_engine import OpenVinoEncoder

    folder = openvino_folder(spec.name)
    return OpenVinoEncoder(folder, name=spec.name, revision=spec.revision or folder_revision(spec.folder(False)),
                           query_prefix=spec.query_prefix, passage_prefix=spec.passage_prefix,
                           max_seq_length=spec.max_seq_length or 512)


def _onnx_encoder(spec: ModelSpec) -> Encoder:
    from recsys.encoders.onnx import OnnxEncoder

    folder = onnx_folder(spec.name)
    source_dir = spec.folder(False)
    return OnnxEncoder(folder, name=spec.name, revision=spec.revision or folder_revision(source_dir),
                       query_prefix=spec.query_prefix, passage_prefix=spec.passage_prefix,
                       max_seq_length=spec.max_seq_length or 512)
