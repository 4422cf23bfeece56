"""The int8 recipe is a pure function of CPU flags; flags are read from /proc/cpuinfo's format."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys.encoders.onnx_export import choose_quant_config, cpu_flags


@pytest.mark.parametrize(
    ("flags", "name", "reduce_range", "fused"),
    [
        ({"sse4_2", "avx", "avx2", "avx512f", "avx512_vnni"}, "vnni", False, False),  # unfused measured faster
        ({"avx2", "avx_vnni"}, "vnni", False, False),
        ({"avx", "avx2"}, "avx2", True, True),  # no VNNI: 7-bit weights avoid u8*s8 saturation
        ({"avx2", "avx512f", "avx512bw"}, "avx2", True, True),
        ({"fp", "asimd", "asimddp"}, "arm64", False, True),
        (set(), "generic", True, True),
    ],
)
def test_choose_quant_config(flags: set[str], name: str, reduce_range: bool, fused: bool) -> None:
    cfg = choose_quant_config(flags)
    assert (cfg.name, cfg.reduce_range, cfg.per_channel, cfg.fused) == (name, reduce_range, True, fused)
    assert "MatMul" in cfg.op_types
    # the word embeddings are quantized either way: inside EmbedLayerNormalization, or as a Gather
    assert ("EmbedLayerNormalization" if fused else "Gather") in cfg.op_types


def test_cpu_flags_reads_first_cpu(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: X\nflags\t\t: fpu avx2 avx512_vnni\n\n"
                    "processor\t: 1\nflags\t\t: fpu\n")
    assert cpu_flags(info) == frozenset({"fpu", "avx2", "avx512_vnni"})
    assert choose_quant_config(cpu_flags(info)).name == "vnni"


def test_cpu_flags_missing_file_is_empty(tmp_path: Path) -> None:
    assert cpu_flags(tmp_path / "nope") == frozenset()
