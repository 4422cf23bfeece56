"""Encoders: one interface (`Encoder`), several engines, picked by name with `make_encoder`."""

from __future__ import annotations

from recsys.encoders.base import Encoder, TextKind, l2_normalize
from recsys.encoders.cached import CachedEncoder
from recsys.encoders.factory import DEFAULT_ENCODER, available_encoders, make_encoder
from recsys.encoders.hashing import HashingEncoder

__all__ = [
    "Encoder",
    "CachedEncoder",
    "TextKind",
    "l2_normalize",
    "HashingEncoder",
    "make_encoder",
    "available_encoders",
    "DEFAULT_ENCODER",
]
