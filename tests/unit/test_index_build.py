"""How FAISS indexes are built: training sample, batched adds on all cores, and what the manifest records."""

from __future__ import annotations

import json
import os
from pathlib import Path

import faiss
import numpy as np
import pytest

import recsys.index.faiss_index as fi
from recsys.index import FaissIndex, IndexSpec, Manifest, set_search_threads
from recsys.index.autotune import TuneOptions, tune_index, tuning_fields
from recsys.index.choose import candidate_specs, train_size
from recsys.index.manifest import MANIFEST_FILE, IndexInfo, TrialInfo


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 16)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_ivf_trains_on_a_seeded_sample_of_the_requested_size(vectors, monkeypatch):
    ivf = [s for s in candidate_specs(1_000_000, 384) if s.factory.startswith("IVF")]
    assert [s.train_size for s in ivf] == [64 * 4096] * 2  # what `recsys build` asks for at 1M
    spec = IndexSpec("IVF16,SQ8", {"nprobe": 4}, train_size=train_size("IVF16,SQ8", len(vectors)))
    assert spec.train_size == 64 * 16 < len(vectors)
    seen: list[np.ndarray] = []
    real = fi.train_sample

    def spy(x: np.ndarray, size: int, seed: int) -> np.ndarray:
        seen.append(real(x, size, seed))
        return seen[-1]

    monkeypatch.setattr(fi, "train_sample", spy)
    idx = FaissIndex.build(vectors, spec, seed=3)
    assert [len(s) for s in seen] == [64 * 16] and idx.build_stats.train_n == 64 * 16 and len(idx) == len(vectors)
    rows = {r.tobytes() for r in vectors}
    assert all(r.tobytes() in rows for r in seen[0])  # distinct rows of the catalogue, not synthetic points
    assert len({r.tobytes() for r in seen[0]}) == 64 * 16
    assert np.array_equal(real(vectors, 1024, 3), seen[0])  # seeded: the same sample every build
    assert len(real(vectors[:100], 1024, 3)) == 100  # a small catalogue trains on all of it


def test_adds_go_in_batches(vectors, monkeypatch):
    monkeypatch.setattr(fi, "ADD_BATCH", 1000)
    calls: list[tuple[int, int]] = []
    idx = FaissIndex.build(vectors, IndexSpec("Flat"), progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1000, 3000), (2000, 3000), (3000, 3000)] and len(idx) == 3000
    _, ids = idx.search(vectors[2500:2501], 1)
    assert ids[0, 0] == 2500  # rows keep their catalogue positions across batches


def test_a_build_uses_all_cores_even_after_serving_set_one_thread(vectors, monkeypatch):
    set_search_threads(1)
    during: list[int] = []
    real = fi.add_batched

    def spy(index: faiss.Index, x: np.ndarray, progress=None) -> None:
        during.append(faiss.omp_get_max_threads())
        real(index, x, progress)

    monkeypatch.setattr(fi, "add_batched", spy)
    idx = FaissIndex.build(vectors, IndexSpec("HNSW32,Flat", {"efSearch": 32}))
    assert during == [fi.build_threads()] and idx.build_stats.threads == fi.build_threads()
    assert faiss.omp_get_max_threads() == 1  # serving's setting is back after the build
    assert fi.build_threads() == len(os.sched_getaffinity(0))


def test_hnsw_states_its_ef_construction(vectors):
    idx = FaissIndex.build(vectors[:500], IndexSpec("HNSW32,SQ8", train_size=500))
    assert idx._index.hnsw.efConstruction == fi.EF_CONSTRUCTION


def test_index_bytes_is_the_serialized_size(vectors, tmp_path):
    idx = FaissIndex.build(vectors, IndexSpec("IVF16,Flat", train_size=1024))
    idx.save(tmp_path / "i.faiss")
    assert idx.nbytes() == (tmp_path / "i.faiss").stat().st_size > len(vectors) * 16 * 4


def test_trials_record_build_time_and_bytes_and_round_trip_through_the_manifest(vectors, tmp_path):
    opts = TuneOptions(exact_threshold=2000, sample_size=2000, n_queries=50, target_recall=0.9)
    tuned = tune_index(vectors, options=opts)
    assert tuned.reason.startswith(tuned.spec.factory)
    sample = [t for t in tuned.trials if t.stage == "sample"]
    assert {t.factory for t in sample} == {"Flat", "SQ8", "HNSW32,Flat", "HNSW32,SQ8"}  # too few for IVF
    assert all(t.bytes > 0 and t.build_s == pytest.approx(t.train_s + t.add_s) for t in tuned.trials)
    assert all(t.add_s > 0 for t in sample if t.factory.startswith("HNSW"))  # linking a graph takes time
    info = IndexInfo(factory=tuned.spec.factory, count=len(vectors), recall_at_10=tuned.recall_at_10,
                     recall_queries=50, build_seconds=1.0, bytes=123, build_threads=2,
                     **tuning_fields(tuned, 0.9, tmp_path / "index.faiss"))
    back = IndexInfo.model_validate_json(info.model_dump_json())
    assert back == info and back.choice == tuned.reason and back.bytes == 123 and back.build_threads == 2
    first = back.tuning[0]
    assert first.bytes == tuned.trials[0].bytes and first.build_s == pytest.approx(tuned.trials[0].build_s)


def test_an_old_trial_without_build_fields_still_loads():
    old = {"factory": "Flat", "search_params": {}, "stage": "full", "n": 9, "recall_at_10": 1.0, "qps": 10.0,
           "est_bytes": 100}
    t = TrialInfo.model_validate(old)
    assert t.build_s is None and t.bytes is None and t.train_s is None


@pytest.mark.parametrize("schema", [2, 3])
def test_manifests_written_before_build_times_were_recorded_still_load(tiny_index: Path, tmp_path: Path,
                                                                        schema: int):
    root = tiny_index / os.readlink(tiny_index / "current")
    data = json.loads((root / MANIFEST_FILE).read_text())
    for key in ("choice", "bytes", "build_threads"):
        data["index"].pop(key)
    for trial in data["index"]["tuning"]:
        for key in ("train_s", "add_s", "build_s", "bytes"):
            trial.pop(key)
    data["schema_version"] = schema
    (tmp_path / MANIFEST_FILE).write_text(json.dumps(data))
    m = Manifest.load(tmp_path)
    assert m.index.bytes is None and m.index.tuning[0].build_s is None and m.schema_version == schema
    fresh = Manifest.load(root)
    assert fresh.index.bytes == (root / "index.faiss").stat().st_size and fresh.index.build_threads >= 1
    assert fresh.index.tuning[0].bytes is not None and fresh.index.tuning[0].build_s is not None
