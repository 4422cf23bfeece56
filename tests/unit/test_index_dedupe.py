from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys import make_dataset
from recsys.artifacts import load_artifacts
from recsys.build.pipeline import BuildOptions, build_index
from recsys.encoders import make_encoder
from recsys.errors import ArtifactError
from recsys.index import DedupedIndex, ExactIndex, FaissIndex, IndexSpec, group_identical, load_index, measure_recall
from recsys.index.dedupe import VectorGroups, groups_path
from recsys.index.manifest import IndexInfo


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def copies() -> np.ndarray:
    """Gift-Cards-like: 40 texts repeated 50 times each, plus 1,000 distinct ones, shuffled."""
    rng = np.random.default_rng(3)
    base = unit(rng.normal(size=(1040, 32)))
    rows = np.concatenate([np.repeat(np.arange(40), 50), np.arange(40, 1040)])
    return base[rng.permutation(rows)]


def test_group_identical_known_answer():
    a, b, c = np.eye(3, dtype=np.float32)
    g = group_identical(np.stack([a, b, a, c, b]))
    assert g.first.tolist() == [0, 1, 3] and g.offsets.tolist() == [0, 2, 4, 5]
    assert g.order.tolist() == [0, 2, 1, 4, 3] and g.has_duplicates
    assert not group_identical(np.eye(4, dtype=np.float32)).has_duplicates


def test_group_identical_separates_vectors_differing_in_one_coordinate():
    x = np.ones((3, 128), np.float32)
    x[1, 127] = 2.0  # outside the hashed columns (every 4th), so only the byte comparison can tell
    assert group_identical(x).first.tolist() == [0, 1]


def test_deduped_search_matches_exact_positions(copies):
    g = group_identical(copies)
    assert g.n_unique == 1040
    idx = DedupedIndex(FaissIndex.build(copies[g.first], IndexSpec("Flat")), g)
    q = copies[:20] + 0.01
    scores, ids = idx.search(q, 60)  # more than one group of 50 copies
    e_scores, _ = ExactIndex(copies).search(q, 60)
    np.testing.assert_allclose(scores, e_scores, atol=1e-5)
    for qv, row, s in zip(q, ids, scores, strict=True):
        assert len(set(row.tolist())) == 60  # every position at most once
        np.testing.assert_allclose(copies[row] @ qv, s, atol=1e-5)  # each score belongs to its position
    assert len(idx) == len(copies)


def test_regression_hnsw_recall_collapse_on_identical_texts(copies):
    """HNSW over many identical vectors lost most neighbours (R@10 0.15 on Gift Cards); deduplicated, it doesn't."""
    g = group_identical(copies)
    hnsw = DedupedIndex(FaissIndex.build(copies[g.first], IndexSpec("HNSW32,Flat", {"efSearch": 64})), g)
    queries = unit(copies[:100] + 0.05 * np.random.default_rng(1).normal(size=(100, 32)))
    assert measure_recall(hnsw, copies, queries) >= 0.99


def test_save_load_mmap_roundtrip_and_errors(tmp_path, copies):
    g = group_identical(copies)
    idx = DedupedIndex(FaissIndex.build(copies[g.first], IndexSpec("Flat")), g)
    idx.save(tmp_path / "index.faiss")
    info = IndexInfo(factory="Flat", count=len(copies), recall_at_10=1.0, recall_queries=1, build_seconds=0.0,
                     unique_count=g.n_unique, groups_file=groups_path(tmp_path / "index.faiss").name)
    for mmap in (False, True):
        back = load_index(tmp_path / "index.faiss", info, mmap=mmap)
        assert isinstance(back, DedupedIndex) and len(back) == len(copies)
        assert (back.search(copies[:5], 12)[1] == idx.search(copies[:5], 12)[1]).all()
    with pytest.raises(ArtifactError, match="inconsistent"):
        DedupedIndex(FaissIndex.build(copies[:10], IndexSpec("Flat")), g)
    groups_path(tmp_path / "index.faiss").unlink()
    with pytest.raises(ArtifactError, match="missing"):
        load_index(tmp_path / "index.faiss", info)
    (tmp_path / "bad.npy").write_bytes(b"junk")
    with pytest.raises(ArtifactError, match="rebuild"):
        VectorGroups.load(tmp_path / "bad.npy")


def test_build_deduplicates_repeated_product_texts(tmp_path):
    n = 30
    products = pd.DataFrame({"product_id": [f"p{i}" for i in range(n)],
                             "title": ["Gift card" if i % 3 else f"Coffee shop {i}" for i in range(n)],
                             "description": "", "category": "Cards", "brand": "", "price": 10.0})
    res = build_index(make_dataset(products), tmp_path / "i", make_encoder("hashing-64"), BuildOptions(progress=False))
    m = res.manifest.index
    assert m.count == n and m.unique_count == 11 and m.groups_file in res.manifest.files
    assert m.recall_at_10 == 1.0 and m.target_met and m.tuning
    art = load_artifacts(tmp_path / "i", mmap=True)
    copies = [i for i in range(n) if i % 3]
    _, ids = art.index.search(art.item_vectors[1:2], 25)
    assert sorted(ids[0, :20].tolist()) == copies  # every copy of "Gift card", scored equally, comes first
