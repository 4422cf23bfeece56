"""Incremental builds: which texts are encoded again, how the index is derived, and that the result
equals a full build."""

from __future__ import annotations

import os

import faiss
import numpy as np
import pandas as pd
import pytest

from recsys import make_dataset
from recsys.artifacts import load_artifacts
from recsys.build.incremental import choose_strategy, derive_index, plan_reuse
from recsys.build.pipeline import BuildOptions, build_index
from recsys.encoders import HashingEncoder
from recsys.index import IndexSpec, exact_topk
from recsys.recommender import Recommender

from ..conftest import tiny_frames


class CountingEncoder(HashingEncoder):
    """The hashing encoder, remembering every text it was asked to encode."""

    def __init__(self, dim: int = 64) -> None:
        super().__init__(dim)
        self.seen: list[str] = []

    def _encode_sorted(self, texts, kind, batch_size, progress):
        self.seen.extend(texts)
        return super()._encode_sorted(texts, kind, batch_size, progress)


OPTS = BuildOptions(progress=False)


@pytest.mark.parametrize(
    ("n_parent", "removed", "added", "parent_f", "new_f", "expected"),
    [
        (1000, 5, 5, "Flat", "Flat", "rebuild"),  # a flat copy is never beaten by an edit
        (1000, 0, 10, "HNSW32,Flat", "HNSW32,Flat", "append"),
        (1000, 0, 1001, "HNSW32,Flat", "HNSW32,Flat", "rebuild"),
        (1000, 1, 10, "HNSW32,Flat", "HNSW32,Flat", "rebuild"),  # HNSW cannot drop a vector
        (1000, 0, 150, "IVF64,Flat", "IVF64,Flat", "append"),
        (1000, 0, 250, "IVF64,Flat", "IVF64,Flat", "rebuild"),  # outgrows the trained centroids
        (1000, 50, 50, "IVF64,Flat", "IVF64,Flat", "reuse_quantizer"),
        (1000, 150, 150, "IVF64,Flat", "IVF64,Flat", "rebuild"),
        (1000, 0, 10, "HNSW32,Flat", "IVF64,Flat", "rebuild"),  # the chooser moved to another type
        (0, 0, 10, "HNSW32,Flat", "HNSW32,Flat", "rebuild"),
    ],
)
def test_choose_strategy_known_answers(n_parent, removed, added, parent_f, new_f, expected):
    assert choose_strategy(n_parent, removed, added, parent_f, new_f) == expected


def test_choose_strategy_rejects_negative_counts():
    with pytest.raises(ValueError, match="≥ 0"):
        choose_strategy(10, -1, 0, "Flat", "Flat")


def test_plan_counts_added_removed_changed():
    plan = plan_reuse(["a", "b", "c", "d"], ["ha", "hb", "hc", "hd"], ["d", "a", "b", "e"],
                      ["hd", "ha", "hb2", "he"], "Flat", "Flat")
    assert (plan.added, plan.removed, plan.changed, plan.strategy) == (1, 1, 1, "rebuild")
    assert plan.order.tolist() == [0, 1, 2, 3]  # a rebuild keeps the catalogue's own order
    assert plan.parent_row.tolist() == [3, 0, -1, -1]


def test_append_plan_puts_parent_products_first_in_parent_order():
    plan = plan_reuse(["a", "b", "c"], ["ha", "hb", "hc"], ["c", "x", "a", "b"], ["hc", "hx", "ha", "hb"],
                      "HNSW32,Flat", "HNSW32,Flat")
    assert plan.strategy == "append"
    assert plan.order.tolist() == [2, 3, 0, 1]
    assert plan.parent_row.tolist() == [0, 1, 2, -1]


def _unit(rng: np.random.Generator, n: int, d: int = 16) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_derive_index_appends_to_a_copy_of_the_parent(tmp_path):
    rng = np.random.default_rng(0)
    old, new = _unit(rng, 200), _unit(rng, 20)
    spec = IndexSpec("HNSW32,Flat", {"efSearch": 64})
    parent = faiss.index_factory(16, spec.factory, faiss.METRIC_INNER_PRODUCT)
    parent.add(old)
    faiss.write_index(parent, str(tmp_path / "index.faiss"))
    plan = plan_reuse([f"p{i}" for i in range(200)], ["h"] * 200, [f"p{i}" for i in range(220)],
                      ["h"] * 200 + ["n"] * 20, spec.factory, spec.factory)
    index = derive_index(plan, np.r_[old, new], spec, parent_index=tmp_path / "index.faiss",
                         parent_factory=spec.factory)
    assert len(index) == 220
    _, ids = index.search(new, 1)
    assert ids[:, 0].tolist() == list(range(200, 220))
    assert faiss.read_index(str(tmp_path / "index.faiss")).ntotal == 200  # the parent file is untouched


def test_derive_index_refills_a_trained_ivf_without_retraining(tmp_path):
    rng = np.random.default_rng(1)
    vecs = _unit(rng, 400)
    spec = IndexSpec("IVF8,Flat", {"nprobe": 8}, train_size=400)
    parent = faiss.index_factory(16, spec.factory, faiss.METRIC_INNER_PRODUCT)
    parent.train(vecs)
    parent.add(vecs)
    faiss.write_index(parent, str(tmp_path / "index.faiss"))
    changed = vecs.copy()
    changed[:20] = _unit(rng, 20)
    plan = plan_reuse([f"p{i}" for i in range(400)], ["h"] * 400, [f"p{i}" for i in range(400)],
                      ["x"] * 20 + ["h"] * 380, spec.factory, spec.factory)
    assert plan.strategy == "reuse_quantizer"
    index = derive_index(plan, changed, spec, parent_index=tmp_path / "index.faiss", parent_factory=spec.factory)
    centroids = faiss.extract_index_ivf(index._index).quantizer.reconstruct_n(0, 8)
    np.testing.assert_array_equal(centroids, faiss.extract_index_ivf(parent).quantizer.reconstruct_n(0, 8))
    _, got = index.search(changed[:50], 5)
    _, want = exact_topk(changed[:50], changed, 5)  # nprobe = nlist: exhaustive, so exact
    np.testing.assert_array_equal(got, want)


def _edit_title(products: pd.DataFrame, product_id: str, title: str) -> pd.DataFrame:
    out = products.copy()
    out.loc[out["product_id"] == product_id, "title"] = title
    return out


def test_incremental_build_encodes_only_the_changed_product_and_equals_a_full_build(tmp_path):
    products, events = tiny_frames()
    first = build_index(make_dataset(products, events), tmp_path / "inc", CountingEncoder(), OPTS)
    assert first.manifest.lineage.strategy == "full" and first.manifest.lineage.reused_vectors == 0

    edited = _edit_title(products, "r3", "gps running watch with heart rate strap")
    enc = CountingEncoder()
    second = build_index(make_dataset(edited, events), tmp_path / "inc", enc, OPTS)
    lin = second.manifest.lineage
    assert enc.seen == ["gps running watch with heart rate strap. Sports > Running"]
    assert (lin.strategy, lin.encoded, lin.changed, lin.added, lin.removed) == ("rebuild", 1, 1, 0, 0)
    assert lin.reused_vectors == 8 + 6  # 8 unchanged products + 6 distinct event texts
    assert second.manifest.parent == first.manifest.version

    full = build_index(make_dataset(edited, events), tmp_path / "full", CountingEncoder(),
                       BuildOptions(progress=False, incremental=False))
    assert full.manifest.lineage.strategy == "full" and full.manifest.lineage.encoded == 9 + 6
    a, b = load_artifacts(second.path), load_artifacts(full.path)
    np.testing.assert_array_equal(a.item_vectors, b.item_vectors)
    assert a.products.equals(b.products)
    assert second.manifest.data.fingerprint == full.manifest.data.fingerprint
    ra, rb = Recommender.load(second.path), Recommender.load(full.path)
    assert [r.product_id for r in ra.for_user("u_run", 5).results] == \
        [r.product_id for r in rb.for_user("u_run", 5).results]


def test_other_encoder_weights_mean_a_full_build(tmp_path):
    products, events = tiny_frames()
    build_index(make_dataset(products, events), tmp_path / "i", HashingEncoder(64), OPTS)
    res = build_index(make_dataset(products, events), tmp_path / "i", HashingEncoder(32), OPTS)
    assert res.manifest.lineage.strategy == "full" and res.manifest.lineage.reused_vectors == 0


def _make_parent_hnsw(root) -> None:
    """Turn the current version of `root` into one whose index is HNSW (as a large catalogue's would be)."""
    from recsys.index import Manifest
    from recsys.index.manifest import file_sha256

    version = root / os.readlink(root / "current")
    art = load_artifacts(version)
    hnsw = faiss.index_factory(art.item_vectors.shape[1], "HNSW32,Flat", faiss.METRIC_INNER_PRODUCT)
    hnsw.add(np.ascontiguousarray(art.item_vectors))
    faiss.write_index(hnsw, str(version / "index.faiss"))
    m = Manifest.load(version)
    files = {**m.files, "index.faiss": file_sha256(version / "index.faiss")}
    index_info = m.index.model_copy(update={"factory": "HNSW32,Flat", "search_params": {"efSearch": 64}})
    m.model_copy(update={"index": index_info, "files": files, "checksum": Manifest.checksum_of(files)}).save(version)


def test_added_product_is_appended_to_a_copied_hnsw_index(tmp_path, monkeypatch):
    import recsys.build.pipeline

    hnsw = IndexSpec("HNSW32,Flat", {"efSearch": 64})
    monkeypatch.setattr(recsys.build.pipeline, "choose_index", lambda n, dim, **_: hnsw)
    products, events = tiny_frames()
    build_index(make_dataset(products, events), tmp_path / "i", CountingEncoder(), OPTS)
    _make_parent_hnsw(tmp_path / "i")
    grown = pd.concat([products.iloc[[0]].assign(product_id="t1", title="yoga mat non slip",
                                                 category="Sports > Yoga"), products], ignore_index=True)
    enc = CountingEncoder()
    res = build_index(make_dataset(grown, events), tmp_path / "i", enc, OPTS)
    assert res.manifest.lineage.strategy == "append" and res.manifest.lineage.added == 1
    assert res.manifest.index.factory == "HNSW32,Flat"
    assert enc.seen == ["yoga mat non slip. Sports > Yoga"]
    art = load_artifacts(res.path)
    assert art.products["product_id"].tolist() == products["product_id"].tolist() + ["t1"]
    _, ids = art.index.search(art.item_vectors, 1)
    assert ids[:, 0].tolist() == list(range(len(grown)))  # every position finds its own vector
    assert res.manifest.index.recall_at_10 == 1.0
