"""Dask encode on a tiny LocalCluster: same vectors as the local engine, resumable, clean shutdown.

Every cluster call carries an explicit timeout (no pytest-timeout here), so a hung cluster fails the test
instead of hanging the suite.
"""

from __future__ import annotations

import numpy as np
import pytest

from recsys import make_dataset
from recsys.artifacts import load_artifacts
from recsys.build.distributed import DaskEncoder, dask_client, encode_partitions, plan_partitions, write_partitions
from recsys.build.pipeline import BuildOptions, build_index
from recsys.encoders import make_encoder
from recsys.errors import EncoderError

from ..conftest import SAMPLE, tiny_frames

TIMEOUT_S = 60.0
TEXTS = [f"item {i} " + "word " * (i % 9) + ("coffee" if i % 3 else "running shoes") for i in range(300)]


def test_partitions_start_on_batch_boundaries():
    assert plan_partitions(10, 4, 4) == [slice(0, 4), slice(4, 8), slice(8, 10)]
    assert plan_partitions(10, 5, 4) == [slice(0, 8), slice(8, 10)]  # 5 rounds up to 8
    assert plan_partitions(0, 4, 4) == []
    with pytest.raises(ValueError, match="> 0"):
        plan_partitions(10, 0, 4)


@pytest.fixture(scope="module")
def client():
    with dask_client(timeout_s=TIMEOUT_S) as c:
        yield c


def test_dask_vectors_equal_local_and_a_rerun_resumes(client, tmp_path):
    enc = DaskEncoder("hashing-64", client, tmp_path / "work", partition_size=64, timeout_s=TIMEOUT_S)
    local = make_encoder("hashing-64").encode(TEXTS, kind="passage", batch_size=32)
    got = enc.encode(TEXTS, kind="passage", batch_size=32)
    np.testing.assert_array_equal(got, local)
    assert (enc.encoded_partitions, enc.skipped_partitions) == (5, 0)

    done = sorted((tmp_path / "work" / "vectors").glob("*.parquet"))
    assert len(done) == 5
    stamps = {p.name: p.stat().st_mtime_ns for p in done}
    done[2].unlink()  # as if the run had died before this partition finished
    again = enc.encode(TEXTS, kind="passage", batch_size=32)
    np.testing.assert_array_equal(again, local)
    assert (enc.encoded_partitions, enc.skipped_partitions) == (6, 4)
    assert all(p.stat().st_mtime_ns == stamps[p.name] for p in done if p != done[2])


def test_build_on_dask_equals_the_local_build(client, tmp_path):
    products, events = tiny_frames()
    opts = BuildOptions(progress=False, incremental=False)
    enc = DaskEncoder("hashing-64", client, tmp_path / "work", partition_size=4, timeout_s=TIMEOUT_S)
    on_dask = build_index(make_dataset(products, events), tmp_path / "dask", enc, opts)
    local = build_index(make_dataset(products, events), tmp_path / "local", make_encoder("hashing-64"), opts)
    assert on_dask.manifest.encoder.engine == "dask/numpy" and on_dask.manifest.encoder.name == "hashing-64"
    a, b = load_artifacts(on_dask.path), load_artifacts(local.path)
    np.testing.assert_array_equal(a.item_vectors, b.item_vectors)
    np.testing.assert_array_equal(a.text_vectors.vectors, b.text_vectors.vectors)
    np.testing.assert_array_equal(a.user_vectors, b.user_vectors)


def test_failed_tasks_raise_and_the_cluster_shuts_down(tmp_path):
    parts = write_partitions(TEXTS[:10], "passage", tmp_path, "tag", partition_size=8, batch_size=8)
    with dask_client(n_workers=1, timeout_s=TIMEOUT_S) as c:
        with pytest.raises(EncoderError, match="2 of 2 Dask encode tasks failed.*resume"):
            encode_partitions(c, parts, "no-such-encoder", "passage", 8, timeout_s=TIMEOUT_S)
        cluster = c.cluster
    assert c.status == "closed"
    assert cluster.status.name == "closed"
    assert not any(p.done for p in parts)


def test_unreachable_scheduler_is_an_encoder_error():
    with pytest.raises(EncoderError, match="--dask-address"), dask_client("tcp://127.0.0.1:9", timeout_s=2):
        pass


@pytest.mark.slow
def test_minilm_on_dask_matches_local(client, tmp_path):
    import pandas as pd

    from recsys.text.builders import product_texts

    texts = product_texts(pd.read_parquet(SAMPLE / "products.parquet").head(200))
    local = make_encoder("all-MiniLM-L6-v2").encode(texts, kind="passage")
    got = DaskEncoder("all-MiniLM-L6-v2", client, tmp_path / "w", partition_size=64,
                      timeout_s=300).encode(texts, kind="passage")
    np.testing.assert_allclose(got, local, atol=1e-5)
