"""The chooser's rule (`choose.prefer`) and the build-time projection, with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.index.autotune import Trial, projected_build_s
from recsys.index.choose import BUILD_SPEEDUP, SERVE_SLACK, SQ_TRAIN_MAX, Measured, prefer, train_size

GB = 10**9


def m(factory: str, recall: float, qps: float, build_s: float, nbytes: int = GB) -> Measured:
    return Measured(factory, recall, qps, build_s, nbytes)


def test_the_fastest_serving_candidate_wins_when_builds_are_alike():
    cands = [m("Flat", 1.0, 2, 10), m("IVF4096,SQ8", 0.96, 300, 200), m("HNSW32,Flat", 0.96, 1500, 300)]
    assert prefer(cands, 0.95) == 2


def test_a_candidate_that_builds_10x_faster_at_similar_qps_wins():
    cands = [m("HNSW32,Flat", 0.97, 1000, 900), m("IVF4096,SQ8", 0.96, 900, 90)]
    assert prefer(cands, 0.95) == 1
    # Not similar enough: 25 % slower to serve keeps the fastest-serving one, however quick its build.
    assert prefer([m("HNSW32,Flat", 0.97, 1000, 900), m("IVF4096,SQ8", 0.96, 750, 9)], 0.95) == 0
    # Similar QPS but under 2× faster to build: not worth the slower serving.
    assert prefer([m("HNSW32,Flat", 0.97, 1000, 900), m("IVF4096,SQ8", 0.96, 950, 500)], 0.95) == 0


def test_the_thresholds_are_inclusive():
    top = m("A", 0.96, 1000, 100 * BUILD_SPEEDUP)
    assert prefer([top, m("B", 0.96, 1000 * SERVE_SLACK, 100)], 0.95) == 1


def test_among_quick_builders_the_quickest_wins():
    cands = [m("HNSW32,Flat", 0.97, 1000, 1000), m("IVF,Flat", 0.96, 900, 300), m("IVF,SQ8", 0.96, 850, 100)]
    assert prefer(cands, 0.95) == 2


def test_a_candidate_below_the_target_is_never_chosen():
    cands = [m("HNSW32,Flat", 0.94, 5000, 1), m("IVF4096,SQ8", 0.95, 100, 1000)]
    assert prefer(cands, 0.95) == 1
    assert prefer([m("HNSW32,Flat", 0.94, 5000, 1)], 0.95) is None


def test_an_over_budget_candidate_is_never_chosen():
    cands = [m("HNSW32,Flat", 0.99, 5000, 1, nbytes=2 * GB), m("IVF4096,SQ8", 0.96, 100, 1000, nbytes=GB // 2)]
    assert prefer(cands, 0.95, max_bytes=GB) == 1
    assert prefer(cands, 0.95) == 0
    assert prefer(cands[:1], 0.95, max_bytes=GB) is None
    assert prefer([], 0.95) is None


def test_build_time_projection_by_family():
    t = lambda f, train, add: Trial(f, {}, "sample", 10_000, 0.99, 1000.0, 0, train, add)  # noqa: E731
    assert projected_build_s(t("Flat", 0.0, 1.0), 1_000_000) == pytest.approx(100.0)
    assert projected_build_s(t("IVF512,SQ8", 2.0, 1.0), 1_000_000) == pytest.approx(2.0 * 100 + 1.0 * 1000)
    hnsw = projected_build_s(t("HNSW32,Flat", 0.0, 1.0), 1_000_000)
    assert hnsw == pytest.approx(100 * np.log(1e6) / np.log(1e4))


def test_training_sample_sizes():
    assert train_size("IVF4096,SQ8", 1_000_000) == 64 * 4096
    assert train_size("IVF4096,Flat", 100_000) == 100_000  # never more than there are vectors
    assert train_size("SQ8", 1_000_000) == 1_000_000 and train_size("HNSW32,SQ8", 5_000) == 5_000
    assert train_size("SQ8", 20_000_000) == SQ_TRAIN_MAX
    assert train_size("Flat", 1_000_000) == 0 and train_size("HNSW32,Flat", 1_000_000) == 0


def test_the_measured_1m_candidates():
    # benchmarks/results/bench_index_1m_build.json: each family at its first search parameter reaching
    # R@10 0.95 (1-thread QPS, build seconds, bytes) on 1M clustered 384-d vectors.
    cands = [m("HNSW32,Flat", 0.9585, 1573.8, 423.7, 1_808_129_506),
             m("HNSW32,SQ8", 0.956, 751.9, 460.3, 656_132_614),
             m("IVF4096,Flat", 0.957, 441.0, 113.7, 1_550_324_363),
             m("IVF4096,SQ8", 0.9515, 910.5, 324.7, 398_327_480)]
    assert prefer(cands, 0.95) == 0  # no other family serves within 20 % of HNSW32,Flat
    assert prefer(cands, 0.95, max_bytes=10**9) == 3  # under 1 GB: IVF4096,SQ8 serves faster than HNSW32,SQ8
    assert prefer(cands, 0.955, max_bytes=10**9) == 1  # IVF4096,SQ8 misses 0.955 at nprobe 32


def test_a_memory_budget_below_float32_vectors_gets_hnsw_over_8bit_codes_at_1m():
    from recsys.index.choose import candidate_specs, choose_index, parse_bytes

    budget = parse_bytes("1G")  # what `recsys build --max-index-memory 1G` passes
    families = [s.factory for s in candidate_specs(1_000_000, 384, max_memory_bytes=budget)]
    assert "HNSW32,SQ8" in families and "HNSW32,Flat" not in families and "Flat" not in families
    assert choose_index(1_000_000, 384, max_memory_bytes=budget).factory == "HNSW32,SQ8"
    assert choose_index(1_000_000, 384).factory == "HNSW32,Flat"
