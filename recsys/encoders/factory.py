"""Pick an encoder engine by name. Names are what manifests record and configs select."""

from __future__ import annotations

import re
from functools import lru_cache

from recsys.encoders.base import Encoder
from recsys.errors import EncoderError

__all__ = ["make_encoder", "available_encoders", "DEFAULT_ENCODER"]

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
_HASHING = re.compile(r"^hashing(?:-(\d+))?$")


def available_encoders() -> list[str]:
    return [DEFAULT_ENCODER, "hashing-256"]


@lru_cache(maxsize=4)
def make_encoder(name: str = DEFAULT_ENCODER, device: str = "auto") -> Encoder:
    """Return the encoder called `name` (cached: loading a Transformer takes seconds)."""
    if name in (DEFAULT_ENCODER, "minilm"):
        from recsys.encoders.sentence import SentenceTransformerEncoder

        # all-MiniLM-L6-v2 was trained on 128-token inputs; longer inputs cost quadratic attention time
        # for little gain on product text (title, category and brand come first in the passage).
        return SentenceTransformerEncoder(name=DEFAULT_ENCODER, device=device, max_seq_length=128)
    m = _HASHING.match(name)
    if m:
        from recsys.encoders.hashing import HashingEncoder

        return HashingEncoder(dim=int(m.group(1) or 256))
    raise EncoderError(f"unknown encoder {name!r}; choose one of {', '.join(available_encoders())}")
