from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from recsys.errors import ArtifactError
from recsys.index import ExactIndex, FaissIndex, IndexSpec, choose_index, exact_topk, measure_recall
from recsys.index.store import point_current, resolve_version, staging


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def clustered() -> np.ndarray:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(50, 32))
    return unit(centers[rng.integers(0, 50, 6000)] + 0.3 * rng.normal(size=(6000, 32)))


def test_choose_index_is_a_pure_function_of_size():
    assert choose_index(10, 384).factory == "Flat"
    assert choose_index(49_999, 384).exact
    hnsw = choose_index(200_000, 384)
    assert hnsw.factory.startswith("HNSW") and hnsw.search_params["efSearch"] >= 64
    ivf = choose_index(5_000_000, 384)
    assert ivf.factory.startswith("IVF") and ivf.search_params["nprobe"] > 0 and ivf.train_size > 0
    assert "SQ8" in choose_index(5_000_000, 384, max_memory_bytes=3 * 10**9).factory
    with pytest.raises(ValueError):
        choose_index(-1, 384)


def test_exact_topk_known_answer():
    v = unit(np.eye(4, dtype=np.float32) + 0.01)
    scores, ids = exact_topk(v[:1], v, 2)
    assert ids[0, 0] == 0 and scores[0, 0] == pytest.approx(1.0, abs=1e-5)
    _, padded = exact_topk(v[:1], v, 6)
    assert list(padded[0, 4:]) == [-1, -1]


def test_faiss_flat_matches_exact(clustered):
    q = clustered[:100]
    flat = FaissIndex.build(clustered, IndexSpec("Flat"))
    _, a = flat.search(q, 10)
    _, e = ExactIndex(clustered).search(q, 10)
    assert (a == e).mean() > 0.99
    assert measure_recall(flat, clustered, q) == pytest.approx(1.0)


@pytest.mark.parametrize("spec", [IndexSpec("HNSW32,Flat", {"efSearch": 128}),
                                  IndexSpec("IVF64,Flat", {"nprobe": 16}, train_size=4000)])
def test_approximate_indexes_against_exact(clustered, spec):
    idx = FaissIndex.build(clustered, spec)
    assert measure_recall(idx, clustered, clustered[:200]) >= 0.9


def test_faiss_roundtrip_and_mmap(tmp_path, clustered):
    idx = FaissIndex.build(clustered[:500], IndexSpec("Flat"))
    idx.save(tmp_path / "i.faiss")
    for mmap in (False, True):
        back = FaissIndex.load(tmp_path / "i.faiss", IndexSpec("Flat"), mmap=mmap)
        assert len(back) == 500 and (back.search(clustered[:3], 3)[1] == idx.search(clustered[:3], 3)[1]).all()
    (tmp_path / "bad.faiss").write_bytes(b"junk")
    with pytest.raises(ArtifactError, match="rebuild"):
        FaissIndex.load(tmp_path / "bad.faiss", IndexSpec("Flat"))


def test_query_dimension_checked(clustered):
    with pytest.raises(ValueError, match="dimension"):
        ExactIndex(clustered).search(np.zeros((1, 5), np.float32), 3)


def test_staging_removes_temp_on_error_and_current_switches(tmp_path):
    root = tmp_path / "idx"
    with pytest.raises(RuntimeError), staging(root, "v1") as tmp:
        (tmp / "x").write_text("partial")
        raise RuntimeError("boom")
    assert list(root.iterdir()) == []
    for v in ("v1", "v2"):
        with staging(root, v) as tmp:
            (tmp / "manifest.json").write_text("{}")
        point_current(root, v)
        assert os.readlink(root / "current") == v
        assert resolve_version(root) == root / v
    with pytest.raises(ArtifactError, match="no manifest"):
        point_current(root, "v9")


def test_resolve_version_errors_say_how_to_fix(tmp_path):
    with pytest.raises(ArtifactError, match="recsys build"):
        resolve_version(tmp_path / "missing")
    with pytest.raises(ArtifactError, match="no index"):
        resolve_version(tmp_path)


@pytest.mark.parametrize("factory, key, low", [("HNSW32,SQ8", "efSearch", 4), ("IVF64,Flat", "nprobe", 1)])
def test_a_search_view_searches_with_its_parameters_and_leaves_the_index_alone(clustered, factory, key, low):
    from recsys.index import DedupedIndex
    from recsys.index.dedupe import group_identical

    index = FaissIndex.build(clustered, IndexSpec(factory, {key: 256 if key == "efSearch" else 64}, len(clustered)))
    queries = clustered[:50]
    wide = index.search(queries, 100)
    view = index.with_search_params({key: low})
    narrow = view.search(queries, 100)
    assert index.spec.search_params[key] != low and np.array_equal(index.search(queries, 100)[1], wide[1])
    index.apply_search_params({key: low})
    assert np.array_equal(narrow[1], index.search(queries, 100)[1])  # as if the index searched with them
    index.apply_search_params({key: 256 if key == "efSearch" else 64})
    assert not np.array_equal(narrow[1], wide[1])
    assert index.with_search_params({}) is index and index.with_search_params(index.spec.search_params) is index
    deduped = DedupedIndex(index, group_identical(clustered))
    assert np.array_equal(deduped.with_search_params({key: low}).search(queries, 100)[1], narrow[1])
    assert ExactIndex(clustered).with_search_params({key: low}).search(queries, 5)[1].shape == (50, 5)
    with pytest.raises(ArtifactError, match="do not apply"):
        index.with_search_params({"nprobe" if key == "efSearch" else "efSearch": 4})
    for bad in (0, -3, 1 << 20):
        with pytest.raises(ArtifactError, match="whole numbers"):
            index.with_search_params({key: bad})
    with pytest.raises(ArtifactError, match="no data of its own"):
        view.save(Path("unused"))
