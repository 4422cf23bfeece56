"""Item vectors stored as a float32 `.npy` matrix beside item_vectors.parquet: written by the build, mapped
read-only (and not copied) when serving, refused when damaged, and versions that keep the vectors in the
parquet still load and still seed an incremental build."""

from __future__ import annotations

import gc
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from recsys.artifacts import FILES, OPTIONAL_FILES, load_artifacts
from recsys.errors import ArtifactError
from recsys.index import Manifest
from recsys.index.choose import IndexSpec
from recsys.index.faiss_index import FaissIndex
from recsys.index.loader import shared_item_vectors
from recsys.index.manifest import file_digest
from recsys.index.vectors import VectorTable
from recsys.recommender import Recommender

from ..conftest import build_tiny_version

MATRIX = OPTIONAL_FILES["item_matrix"]


def _build(root: Path, extra_product: str | None = None) -> Path:
    return build_tiny_version(root, extra_product)


def _reseal(version: Path, names: list[str]) -> None:
    """Record exactly `names` in the manifest with their current digests, as a build writing them would."""
    m = Manifest.load(version)
    files = {name: file_digest(version / name) for name in names}
    m.model_copy(update={"files": files, "checksum": Manifest.checksum_of(files)}).save(version)


def _to_parquet_vectors(version: Path) -> None:
    """Rewrite `version` the way builds before the matrix stored it: the vectors in the parquet, no `.npy`."""
    path = version / FILES["item_vectors"]
    VectorTable.load(path).save(path)
    (version / MATRIX).unlink()
    _reseal(version, [n for n in Manifest.load(version).files if n != MATRIX])


def test_the_build_writes_the_matrix_and_keeps_only_keys_and_hashes_in_the_parquet(tiny_index: Path):
    version = tiny_index / "current"
    assert MATRIX in Manifest.load(version.resolve()).files
    assert pq.read_schema(version / FILES["item_vectors"]).names == ["key", "text_hash"]
    matrix = np.load(version / MATRIX, allow_pickle=False)
    assert matrix.dtype == np.float32 and matrix.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(load_artifacts(tiny_index).item_vectors, matrix)


def test_serving_maps_the_matrix_read_only_without_copying_it(tiny_index: Path):
    art = load_artifacts(tiny_index, mmap=True)
    vectors = art.item_vectors
    # The tiny index is Flat: the vectors are its own mapped codes (one copy), not a second mapping.
    assert art.manifest.index.factory == "Flat" and art.manifest.index.groups_file is None
    assert vectors.base.owner is art.index and not vectors.flags.writeable and not vectors.flags.owndata
    with pytest.raises(ValueError, match="read-only"):
        vectors[0, 0] = 0.0
    matrix = VectorTable.load(tiny_index / "current" / FILES["item_vectors"], mmap=True).vectors
    # A view of the .npy mapping otherwise: neither VectorTable.load nor ItemFeatures.assemble copied it.
    assert isinstance(matrix.base, np.memmap) and not matrix.flags.writeable and not matrix.flags.owndata
    copy = load_artifacts(tiny_index).item_vectors
    assert copy.flags.writeable and not isinstance(copy.base, np.memmap)
    np.testing.assert_array_equal(vectors, copy)
    rec = Recommender.load(tiny_index, mmap=True)  # every request path reads the mapping, none writes it
    assert rec.for_user("u_run", k=3).results and rec.similar_items("r1", k=3).results \
        and rec.for_text(["watch"], k=3).results


def test_a_version_with_the_vectors_in_its_parquet_loads_and_seeds_an_incremental_build(tmp_path: Path):
    root = tmp_path / "idx"
    old = _build(root)
    want = load_artifacts(old).item_vectors.copy()
    _to_parquet_vectors(old)
    assert "vector" in pq.read_schema(old / FILES["item_vectors"]).names
    art = load_artifacts(old, mmap=True)
    np.testing.assert_array_equal(art.item_vectors, want)
    new = _build(root, extra_product="n1")
    m = Manifest.load(new)
    assert MATRIX in m.files and m.lineage.reused_vectors >= len(want)
    np.testing.assert_array_equal(load_artifacts(new, mmap=True).item_vectors[: len(want)], want)


def test_a_truncated_matrix_is_refused_naming_it(tmp_path: Path):
    version = _build(tmp_path / "idx")
    path = version / MATRIX
    path.write_bytes(path.read_bytes()[:-64])
    with pytest.raises(ArtifactError, match=r"item_vectors\.npy"):
        load_artifacts(version, mmap=True)
    with pytest.raises(ArtifactError, match=r"item_vectors\.npy .*--full"):  # nor reused by the next build
        _build(tmp_path / "idx", extra_product="n1")


@pytest.mark.parametrize("damage", ["truncated", "float64", "transposed", "fortran"])
def test_a_damaged_matrix_that_matches_its_manifest_is_an_artifact_error(tmp_path: Path, damage: str):
    version = _build(tmp_path / "idx")
    path = version / MATRIX
    good = np.load(path)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        bad = {"float64": good.astype(np.float64), "transposed": np.ascontiguousarray(good.T),
               "fortran": np.asfortranarray(good)}[damage]
        np.save(path, bad)
    _reseal(version, list(Manifest.load(version).files))  # as if the build itself had written it so
    for mmap in (True, False):
        with pytest.raises(ArtifactError, match=r"item_vectors\.npy.*rebuild"):
            load_artifacts(version, mmap=mmap)


def test_a_matrix_outside_the_tables_folder_is_refused(tmp_path: Path):
    table = VectorTable(np.array(["a"], object), np.ones((1, 2), np.float32), np.array(["h"], object), "m", 2)
    (tmp_path / "sub").mkdir()
    with pytest.raises(ValueError, match="beside"):
        table.save(tmp_path / "t.parquet", matrix=tmp_path / "sub" / "t.npy")
    table.save(tmp_path / "t.parquet", matrix=tmp_path / "t.npy")
    shutil.move(tmp_path / "t.npy", tmp_path / "sub" / "t.npy")
    with pytest.raises(ArtifactError, match=r"t\.npy"):
        VectorTable.load(tmp_path / "t.parquet")


def test_an_uncompressed_index_lends_its_vectors_only_when_they_are_the_catalogues():
    x = np.linalg.qr(np.random.default_rng(0).normal(size=(64, 64)))[0][:40, :16].astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    for factory in ("Flat", "HNSW8,Flat"):
        index = FaissIndex.build(x, IndexSpec(factory, {}))
        lent = shared_item_vectors(index, x.copy())
        assert lent.base.owner is index and not lent.flags.writeable
        np.testing.assert_array_equal(lent, x)
        del index
        gc.collect()
        np.testing.assert_array_equal(lent, x)  # the view keeps the index (its memory) alive
        other = x.copy()
        other[-1] = -other[-1]  # a catalogue whose last vector differs from what the index holds
        assert shared_item_vectors(FaissIndex.build(x, IndexSpec(factory, {})), other) is other
    compressed = FaissIndex.build(x, IndexSpec("SQ8", {}))  # lends decoded codes (test_decoded_vectors.py)
    assert compressed.stored_vectors() is None
