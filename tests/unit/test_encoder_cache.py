"""The encoder cache builds a folder once, rebuilds it when its source changes, and never leaves half a folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recsys.encoders.cache import MARKER, cache_root, ensure_folder, is_fresh
from recsys.errors import EncoderError


def _writer(calls: list[str], content: str):
    def build(tmp: Path) -> None:
        calls.append(content)
        (tmp / "weights.txt").write_text(content)

    return build


def test_cache_root_follows_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RECSYS_CACHE_DIR", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.delenv("RECSYS_CACHE_DIR")
    assert cache_root() == Path.home() / ".cache" / "recsys"


def test_builds_once_then_reuses(tmp_path: Path) -> None:
    calls: list[str] = []
    folder = tmp_path / "models" / "m"
    src = {"source": "pkg==1", "hash": "aa"}
    assert ensure_folder(folder, src, _writer(calls, "v1")) == folder
    ensure_folder(folder, src, _writer(calls, "v1"))
    assert calls == ["v1"]
    assert json.loads((folder / MARKER).read_text()) == src
    assert is_fresh(folder, src)


def test_stale_source_is_rebuilt(tmp_path: Path) -> None:
    calls: list[str] = []
    folder = tmp_path / "m"
    ensure_folder(folder, {"source": "pkg==1"}, _writer(calls, "v1"))
    ensure_folder(folder, {"source": "pkg==2"}, _writer(calls, "v2"))
    assert calls == ["v1", "v2"]
    assert (folder / "weights.txt").read_text() == "v2"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary folders left behind


def test_failed_build_leaves_nothing(tmp_path: Path) -> None:
    def broken(tmp: Path) -> None:
        (tmp / "half.bin").write_text("x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        ensure_folder(tmp_path / "m", {"source": "pkg==1"}, broken)
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_without_build_says_how_to_prepare(tmp_path: Path) -> None:
    with pytest.raises(EncoderError, match="does not exist.*recsys encoders prepare"):
        ensure_folder(tmp_path / "m", {"source": "pkg==1"}, _writer([], "v1"), allow_build=False,
                      hint="run `recsys encoders prepare --encoder x --engine onnx-int8` to build it")


def test_folder_without_marker_is_not_fresh(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "weights.txt").write_text("interrupted copy")
    assert not is_fresh(folder, {"source": "pkg==1"})
    with pytest.raises(EncoderError, match="stale"):
        ensure_folder(folder, {"source": "pkg==1"}, _writer([], "v1"), allow_build=False)


def test_corrupt_marker_is_a_typed_error(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / MARKER).write_text("{not json")
    with pytest.raises(EncoderError, match="unreadable"):
        is_fresh(folder, {"source": "pkg==1"})
