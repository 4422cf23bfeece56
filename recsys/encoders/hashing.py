"""A dependency-free hashing encoder: signed feature hashing of word unigrams and bigrams.

It has no weights, so it is instant and exactly reproducible. Tests use it where the right answer must
be obvious (shared words mean high cosine); users can pick it for a quick smoke build. It does not know
synonyms, so it is no substitute for the Transformer encoder in production.
"""

from __future__ import annotations

import hashlib
import re
from itertools import pairwise

import numpy as np

from recsys.encoders.base import Encoder, TextKind

__all__ = ["HashingEncoder"]

_TOKEN = re.compile(r"[\w']+", re.UNICODE)


def _bucket(token: str, dim: int) -> tuple[int, float]:
    h = int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")
    return h % dim, (1.0 if (h >> 63) & 1 else -1.0)


class HashingEncoder(Encoder):
    def __init__(self, dim: int = 256, bigram_weight: float = 0.5) -> None:
        self.dim = dim
        self.name = f"hashing-{dim}"
        self.revision = "v1"
        self.engine = "numpy"
        self._bigram_weight = bigram_weight

    def _encode_sorted(self, texts: list[str], kind: TextKind, batch_size: int, progress: bool) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            tokens = _TOKEN.findall(text.lower())
            for tok in tokens:
                col, sign = _bucket(tok, self.dim)
                out[row, col] += sign
            for a, b in pairwise(tokens):
                col, sign = _bucket(f"{a} {b}", self.dim)
                out[row, col] += sign * self._bigram_weight
            if not tokens:
                # An empty text gets a fixed "no content" direction rather than a zero vector.
                col, sign = _bucket("\x00empty", self.dim)
                out[row, col] = sign
        return out
