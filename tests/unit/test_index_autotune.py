from __future__ import annotations

import numpy as np
import pytest

from recsys.index import DedupedIndex, FaissIndex, TuneOptions, measure_recall, tune_index
from recsys.index.autotune import Trial, _item_walk, projected_qps, tuning_fields
from recsys.index.choose import HNSW_LIMIT, IndexSpec, candidate_specs, estimate_bytes, ivf_nlist
from recsys.index.manifest import IndexInfo


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def clustered() -> np.ndarray:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(60, 32))
    return unit(centers[rng.integers(0, 60, 8000)] + 0.3 * rng.normal(size=(8000, 32)))


def test_memory_estimates_known_answers():
    assert estimate_bytes(10, 384, "Flat") == 15_360
    assert estimate_bytes(10, 384, "SQ8") == 3_840
    assert estimate_bytes(10, 384, "IVF16,SQ8") == 10 * (384 + 8) + 16 * 384 * 4
    assert estimate_bytes(1000, 8, "HNSW32,Flat") == int(1000 * (32 + 32 * 2 * 4 * 1.1))
    assert ivf_nlist(1_000_000) == 4096 and ivf_nlist(10) == 16


def test_candidates_respect_budget_and_size():
    names = [s.factory for s in candidate_specs(1_000_000, 384)]
    assert names == ["Flat", "SQ8", "HNSW32,Flat", "HNSW32,SQ8", "IVF4096,Flat", "IVF4096,SQ8"]
    budget = 800 * 10**6  # 1M × 384 floats need 1.5 GB: only 8-bit codes fit
    assert all("SQ8" in s.factory for s in candidate_specs(1_000_000, 384, max_memory_bytes=budget))
    assert not any(s.factory.startswith("HNSW") for s in candidate_specs(HNSW_LIMIT + 1, 8))
    with pytest.raises(ValueError):
        candidate_specs(-1, 8)


def test_projected_qps_scales_by_family():
    t = lambda f: Trial(f, {}, "sample", 10_000, 0.99, 1000.0, 0)  # noqa: E731
    assert projected_qps(t("Flat"), 1_000_000) == pytest.approx(10.0)
    assert projected_qps(t("IVF64,Flat"), 1_000_000) == pytest.approx(100.0)
    assert projected_qps(t("HNSW32,Flat"), 1_000_000) == pytest.approx(1000 * np.log(1e4) / np.log(1e6))


def test_small_catalogue_is_exact(clustered):
    tuned = tune_index(clustered[:500], options=TuneOptions(n_queries=50))
    assert tuned.spec.factory == "Flat" and tuned.recall_at_10 == 1.0 and tuned.target_met
    assert isinstance(tuned.index, FaissIndex) and len(tuned.trials) == 1 and tuned.trials[0].stage == "full"


def test_small_catalogue_over_budget_gets_sq8(clustered):
    tuned = tune_index(clustered[:500], options=TuneOptions(n_queries=50, max_memory_bytes=500 * 32 * 2))
    assert tuned.spec.factory == "SQ8" and tuned.recall_at_10 >= 0.95


def test_no_index_fits_says_how_to_fix(clustered):
    with pytest.raises(ValueError, match="raise the memory budget"):
        tune_index(clustered[:500], options=TuneOptions(max_memory_bytes=100))


@pytest.mark.parametrize("budget", [None, 8000 * 32 * 2])
def test_large_catalogue_meets_target_with_an_approximate_index(clustered, budget):
    queries = unit(clustered[:100] + 0.1 * np.random.default_rng(5).normal(size=(100, 32)))
    opts = TuneOptions(target_recall=0.95, exact_threshold=2000, sample_size=4000, n_queries=100,
                       max_memory_bytes=budget)
    tuned = tune_index(clustered, queries, opts)
    assert tuned.spec.factory != "Flat" and tuned.target_met and tuned.recall_at_10 >= 0.95
    assert budget is None or "SQ8" in tuned.spec.factory
    assert {t.stage for t in tuned.trials} <= {"sample", "full", "items"}
    final = [t for t in tuned.trials if t.stage == "full"][-1]
    assert final.factory == tuned.spec.factory and final.search_params == tuned.spec.search_params
    # Item queries never search wider than profile queries; without a cheaper value they share the index's.
    key, value = next(iter(tuned.spec.search_params.items()))
    assert all(t.search_params[key] < value for t in tuned.trials if t.stage == "items")
    assert (tuned.item_search_params == {}) is (tuned.item_recall_at_10 is None)
    # The recorded recall is what the index really achieves on those queries.
    assert measure_recall(tuned.index, clustered, queries) == pytest.approx(tuned.recall_at_10, abs=1e-4)


def test_tuning_fields_fit_the_manifest(clustered, tmp_path):
    dup = np.concatenate([clustered[:300], clustered[:300]])
    tuned = tune_index(dup, options=TuneOptions(n_queries=20))
    assert isinstance(tuned.index, DedupedIndex) and tuned.n_unique == 300
    info = IndexInfo(factory=tuned.spec.factory, count=600, recall_at_10=tuned.recall_at_10, recall_queries=20,
                     build_seconds=0.1, **tuning_fields(tuned, 0.95, tmp_path / "index.faiss"))
    assert info.groups_file == "index.groups.npy" and info.unique_count == 300 and info.tuning[0].n == 300
    old = {"factory": "Flat", "count": 3, "recall_at_10": 1.0, "recall_queries": 3, "build_seconds": 0.1}
    assert IndexInfo.model_validate(old).groups_file is None  # manifests written before tuning still load


def test_item_queries_get_the_cheapest_search_that_meets_the_target_and_the_index_keeps_its_own(clustered):
    """On an HNSW index tuned wide for profile queries, the item ladder stops at the first efSearch below it
    whose recall@10 on catalogue items as queries meets the target; the index is left searching as before."""
    index = FaissIndex.build(clustered, IndexSpec("HNSW32,Flat", {"efSearch": 256}))
    opts = TuneOptions(target_recall=0.95, n_queries=100, sample_size=4000)
    trials = _item_walk(index, clustered, opts, np.random.default_rng(1), 0)
    assert trials and all(t.stage == "items" and t.search_params["efSearch"] < 256 for t in trials)
    assert trials[-1].recall_at_10 >= 0.95 and all(t.recall_at_10 < 0.95 for t in trials[:-1])
    assert index.spec.search_params == {"efSearch": 256}
    view = index.with_search_params(trials[-1].search_params)
    queries = clustered[np.random.default_rng(2).choice(len(clustered), 100, replace=False)]
    assert measure_recall(view, clustered, queries) >= 0.9
    assert _item_walk(FaissIndex.build(clustered[:500], IndexSpec("Flat")), clustered[:500], opts,
                      np.random.default_rng(1), 0) == []  # an exact scan has nothing to tune
