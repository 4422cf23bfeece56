"""Item vectors served from an index's 8-bit scalar-quantizer codes, decoded only for the rows asked for.

An SQ8 index (`SQ8`, `HNSW32,SQ8`) keeps one byte per dimension of every vector: a quarter of the float32
matrix. When it holds exactly the catalogue's vectors in catalogue order, a server can answer the item
vectors it reads (the candidates of a request, a user's history, a portrait's items) from those codes
instead of also mapping the float32 `item_vectors.npy`: at 1M × 384 that is 384 MB of codes the index
maps anyway instead of another 1.5 GB. The values differ from the stored vectors by the quantizer's
error: at most half a step (`vdiff / 255`) per dimension within the trained range, plus the clipping of
values outside it (`decode_error` measures both).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SQ8Codes", "DecodedVectors", "decode_error", "matches_codes"]

#: Rows decoded per call when the whole matrix is asked for (`np.asarray`): bounds the temporary codes.
_CHUNK = 65_536


@dataclass(frozen=True)
class SQ8Codes:
    """An 8-bit scalar quantizer's codes (n × d bytes, row i = position i) and its per-dimension range:
    a code c decodes to `vmin + (c + 0.5) / 255 · vdiff`. `decode` is the index's own decoder."""

    codes: np.ndarray
    vmin: np.ndarray
    vdiff: np.ndarray
    decode: Callable[[np.ndarray], np.ndarray]
    #: What must stay alive while `codes` is read (the index whose memory or mapping they are).
    owner: Any = None


class DecodedVectors:
    """A read-only n × d float32 matrix whose rows are decoded from `SQ8Codes` when indexed.

    It answers what the serving code does with item vectors: `shape`, `dtype`, `len()` and row selection
    (`m[i]`, `m[a:b]`, `m[int array of any shape]`, `m[bool mask]`, then optionally more axes:
    `m[rows, cols]`), each returning a new float32 ndarray. `np.asarray(m)` decodes every row (the whole
    float32 matrix, in private memory): only for small catalogues and tests."""

    ndim = 2
    dtype = np.dtype(np.float32)

    def __init__(self, codes: SQ8Codes) -> None:
        self._codes = codes
        self.shape = (int(codes.codes.shape[0]), int(codes.vmin.shape[0]))

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"DecodedVectors(shape={self.shape}, SQ8)"

    def _decode(self, rows: np.ndarray) -> np.ndarray:
        flat = rows.reshape(-1)
        if flat.size == 0:
            return np.zeros((*rows.shape, self.shape[1]), np.float32)
        out = self._codes.decode(np.ascontiguousarray(self._codes.codes[flat]))
        return np.asarray(out, np.float32).reshape(*rows.shape, self.shape[1])

    def _rows(self, key: Any) -> np.ndarray:
        """The positions `key` selects along the first axis, as an int64 array of the key's shape; numpy's
        own rules (negative positions, bounds, boolean masks) applied to a range of positions."""
        n = self.shape[0]
        if isinstance(key, slice):
            return np.arange(*key.indices(n), dtype=np.int64)
        if isinstance(key, (int, np.integer)):
            i = int(key)
            if not -n <= i < n:
                raise IndexError(f"row {i} is out of bounds for {n} item vectors")
            return np.asarray(i % n, dtype=np.int64)
        arr = np.asarray(key)
        if arr.dtype == bool:
            if arr.shape != (n,):
                raise IndexError(f"a boolean mask of shape {arr.shape} cannot select rows of {n} item vectors")
            return np.flatnonzero(arr)
        if not np.issubdtype(arr.dtype, np.integer):
            raise IndexError(f"item vectors are indexed by positions, got a {arr.dtype} array")
        rows = arr.astype(np.int64, copy=False)
        if rows.size and (rows.min() < -n or rows.max() >= n):
            raise IndexError(f"a row is out of bounds for {n} item vectors")
        return np.where(rows < 0, rows + n, rows)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, tuple):
            if not key:
                return self._decode(self._rows(slice(None)))
            rows = self._rows(key[0])
            return self._decode(rows)[(Ellipsis,) * rows.ndim + key[1:]] if len(key) > 1 else self._decode(rows)
        return self._decode(self._rows(key))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if copy is False:
            raise ValueError("item vectors decoded from SQ8 codes exist only as a copy; ask for one (copy=None)")
        out = np.empty(self.shape, np.float32)
        for a in range(0, self.shape[0], _CHUNK):
            out[a : a + _CHUNK] = self[a : a + _CHUNK]
        return out if dtype is None else out.astype(dtype, copy=False)


def decode_error(codes: SQ8Codes, vectors: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Per row of `rows`: the largest absolute difference, over dimensions, between its decoded codes and
    `vectors[rows]` clipped to the quantizer's trained range, in units of half a quantization step (so a
    row encoded from exactly that vector scores ≤ 1, up to float32 rounding)."""
    want = np.clip(np.asarray(vectors[rows], np.float32), codes.vmin, codes.vmin + codes.vdiff)
    got = DecodedVectors(codes)[rows]
    half_step = np.maximum(codes.vdiff / 255 / 2, np.float32(1e-12))
    return np.asarray(np.abs(got - want) / half_step, np.float64).max(axis=1, initial=0.0)


def matches_codes(codes: SQ8Codes, vectors: np.ndarray, samples: int = 257) -> bool:
    """Whether `samples` evenly spread rows of `vectors` (catalogue order) decode from `codes` to within the
    quantizer's error: evidence that the codes are those vectors, in that order. A 1 % margin absorbs
    float32 rounding in the decoder."""
    n = len(vectors)
    if codes.codes.shape[0] != n or codes.vmin.shape[0] != vectors.shape[1]:
        return False
    if n == 0:
        return True
    rows = np.unique(np.linspace(0, n - 1, num=min(n, samples)).astype(np.int64))
    return bool((decode_error(codes, vectors, rows) <= 1.01).all())
