"""Chunked exact scan: equal to brute force, independent of chunking, and identical on Dask."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.audience.build import AudienceParams, select_audiences
from recsys.audience.executor import DaskExecutor, DaskOptions, LocalExecutor, make_executor
from recsys.audience.score import chunk_bounds
from recsys.errors import ConfigError


def _data(n_users: int = 500, n_q: int = 25, dim: int = 16, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((n_users, dim)).astype(np.float32)
    q = rng.standard_normal((n_q, dim)).astype(np.float32)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return u, q


def test_chunk_bounds_cover_all_rows_in_order() -> None:
    assert chunk_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert chunk_bounds(0, 4) == []
    with pytest.raises(ConfigError):
        chunk_bounds(10, 0)


@pytest.mark.parametrize("chunk_rows", [7, 128, 10_000])
def test_chunked_topk_equals_brute_force(chunk_rows: int) -> None:
    users, queries = _data()
    with LocalExecutor(users, chunk_rows) as eng:
        top = eng.search(queries, 30)
    exact = queries @ users.T
    for j in range(len(queries)):
        expect = np.lexsort((np.arange(len(users)), -exact[j]))[:30]
        assert top.rows[j].tolist() == expect.tolist()
        np.testing.assert_allclose(top.scores[j], exact[j, expect], rtol=1e-5, atol=1e-6)


def test_k_larger_than_users_is_padded() -> None:
    users, queries = _data(n_users=5, n_q=2)
    with LocalExecutor(users, 2) as eng:
        top = eng.search(queries, 8)
    assert (top.rows[:, 5:] == -1).all() and np.isneginf(top.scores[:, 5:]).all()
    assert sorted(top.rows[0, :5].tolist()) == [0, 1, 2, 3, 4]


def test_unknown_engine_is_refused() -> None:
    users, _ = _data(n_users=4)
    with pytest.raises(ConfigError, match="unknown engine"):
        make_executor("spark", users)  # type: ignore[arg-type]


def test_dask_engine_gives_the_same_audiences_as_local() -> None:
    """Every cluster wait is bounded by DaskOptions.timeout_s; the cluster is closed afterwards."""
    users, queries = _data(n_users=400, n_q=6)
    ids = np.array([f"u{i}" for i in range(len(users))], dtype=object)
    cids = [f"c{i}" for i in range(len(queries))]
    excluded = [np.array([i, i + 1]) for i in range(len(queries))]
    params = AudienceParams(size=50, holdout=0.2, max_per_user=2, min_score=-0.2)
    with LocalExecutor(users, chunk_rows=64) as eng:
        local = select_audiences(ids, cids, queries, excluded, params, eng)
        top_local = eng.search(queries, 70)
    with DaskExecutor(users, chunk_rows=64, options=DaskOptions(timeout_s=120)) as eng:
        remote = select_audiences(ids, cids, queries, excluded, params, eng)
        top_remote = eng.search(queries, 70)
        cluster = eng._cluster  # noqa: SLF001 - checked for shutdown below
    assert np.array_equal(top_local.rows, top_remote.rows)
    assert np.array_equal(top_local.scores, top_remote.scores)  # bit-identical, not approximately
    for c in cids:
        assert local.audiences[c].equals(remote.audiences[c])
    assert cluster.status.name == "closed"
