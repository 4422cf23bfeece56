"""recsys.features.ease: known answers against the textbook formula, top-N sparsification, the fallback."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.data import schema as S
from recsys.errors import ConfigError
from recsys.evaluation import EASEScorer, build_eval_data
from recsys.features.ease import (
    LAMBDA_SCALE,
    MAX_DENSE_ITEMS,
    default_lambda,
    dense_items,
    ease_dense,
    ease_scores,
    ease_weights,
    gram_matrix,
    top_n_per_row,
)


def reference_b(x: np.ndarray, lam: float) -> np.ndarray:
    """Steck 2019, eq. 8, in float64 with a plain inverse."""
    g = x.T @ x + lam * np.eye(x.shape[1])
    p = np.linalg.inv(g)
    b = np.eye(len(p)) - p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return b


def random_x(n_users: int = 60, n_items: int = 25, density: float = 0.15, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    return sp.csr_matrix((rng.random((n_users, n_items)) < density).astype(np.float32))


def test_tiny_known_answer():
    x = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1], [1, 0, 0]], dtype=np.float32)
    # Gram = [[3,2,1],[2,3,2],[1,2,2]]; with λ = 1, P = (G + I)⁻¹ = [[8,-4,0],[-4,11,-6],[0,-6,12]] / 24,
    # and B[i, j] = −P[i, j] / P[j, j]:
    known = np.array([[0, 4 / 11, 0], [1 / 2, 0, 1 / 2], [0, 6 / 11, 0]])
    gram = gram_matrix(sp.csr_matrix(x), np.arange(3))
    assert gram.tolist() == [[3, 2, 1], [2, 3, 2], [1, 2, 2]]
    b = ease_dense(gram, 1.0)
    np.testing.assert_allclose(b, known, atol=1e-6)
    np.testing.assert_allclose(b, reference_b(x.astype(np.float64), 1.0), atol=1e-6)
    assert np.all(np.diag(b) == 0)


def test_dense_solve_matches_the_formula_and_leaves_the_gram_alone():
    x = random_x()
    g = gram_matrix(x, np.arange(x.shape[1]))
    before = g.copy()
    for lam in (5.0, 100.0):
        np.testing.assert_allclose(ease_dense(g, lam), reference_b(x.toarray().astype(np.float64), lam),
                                   rtol=2e-4, atol=1e-6)
    assert np.array_equal(g, before)
    with pytest.raises(ConfigError, match="positive"):
        ease_dense(g, 0.0)


def test_sparse_weights_without_a_cut_are_the_dense_b_on_interacted_items():
    x = random_x(n_items=30).tolil()
    x[:, [4, 17]] = 0  # two items nobody touched
    x = sp.csr_matrix(x)
    active = np.setdiff1d(np.arange(30), [4, 17])
    full = ease_weights(x, 20.0, top_n=None)
    assert full.shape == (30, 30) and full.dtype == np.float32
    assert full[[4, 17]].nnz == 0 and full[:, [4, 17]].nnz == 0 and full.diagonal().sum() == 0
    dense = reference_b(x.toarray()[:, active].astype(np.float64), 20.0)
    np.testing.assert_allclose(full.toarray()[np.ix_(active, active)], dense, rtol=2e-4, atol=1e-6)


def test_top_n_keeps_the_largest_weights_per_row():
    x = random_x(n_items=40, seed=1)
    full = ease_weights(x, 10.0, top_n=None).toarray()
    cut = ease_weights(x, 10.0, top_n=5)
    assert cut.shape == (40, 40) and np.all(np.diff(cut.indptr) <= 5)
    for i in range(40):
        row = cut.getrow(i)
        assert i not in row.indices  # never its own neighbour
        others = np.delete(full[i], i)
        expected = np.sort(others[others != 0])[::-1][:5]
        np.testing.assert_allclose(np.sort(row.data)[::-1], expected, rtol=1e-6)
        assert np.allclose(full[i, row.indices], row.data)


def test_top_n_breaks_equal_weights_by_the_tie_order_not_the_column():
    dense = np.array([[0.0, 2.0, 1.0, 1.0, 1.0, -1.0]], dtype=np.float32)
    tie = np.array([0, 1, 5, 4, 2, 3])  # among the three 1.0s, column 4 comes first, then column 3
    assert sorted(top_n_per_row(dense, 3, tie).indices.tolist()) == [1, 3, 4]
    assert top_n_per_row(dense, 10, tie).nnz == 5  # zeros are dropped, negatives kept when there is room
    with pytest.raises(ConfigError):
        top_n_per_row(dense, 0)


def test_fallback_solves_over_the_most_popular_items_only():
    rng = np.random.default_rng(2)
    x = (rng.random((80, 12)) < np.linspace(0.05, 0.6, 12)[None, :]).astype(np.float32)  # later = popular
    x = sp.csr_matrix(x)
    counts = np.asarray(x.sum(axis=0)).ravel()
    top = np.sort(np.argsort(-counts, kind="stable")[:5])
    assert dense_items(x, 5).tolist() == top.tolist()
    b = ease_weights(x, 30.0, top_n=None, max_dense_items=5)
    rows_used = np.flatnonzero(np.diff(b.indptr) > 0)
    cols_used = np.unique(b.indices)
    assert set(rows_used) <= set(top) and set(cols_used) <= set(top)
    expected = reference_b(x.toarray()[:, top].astype(np.float64), 30.0)
    np.testing.assert_allclose(b.toarray()[np.ix_(top, top)], expected, rtol=2e-4, atol=1e-6)
    assert MAX_DENSE_ITEMS == 20_000


def test_fallback_breaks_popularity_ties_by_seed_not_by_position():
    x = sp.csr_matrix(np.ones((3, 10), dtype=np.float32))  # every item equally popular
    picks = {tuple(dense_items(x, 4, seed=s)) for s in range(6)}
    assert len(picks) > 1 and all(len(p) == 4 for p in picks)


def test_scores_are_history_times_b():
    x = random_x(seed=3)
    b = ease_weights(x, 15.0)
    got = ease_scores(x[:7], b)
    assert got.dtype == np.float32 and got.shape == (7, x.shape[1])
    np.testing.assert_allclose(got, (x[:7] @ b).toarray(), rtol=1e-6)
    with pytest.raises(ConfigError, match="columns"):
        ease_scores(x[:, :5], b)


def test_default_lambda_follows_density():
    x = random_x(n_users=100, n_items=50, density=0.04, seed=4)
    users = (np.diff(x.indptr) > 0).sum()
    items = (np.diff(sp.csc_matrix(x).indptr) > 0).sum()
    assert default_lambda(x) == pytest.approx(LAMBDA_SCALE * np.sqrt(x.nnz / (users * items)))
    denser = random_x(n_users=100, n_items=50, density=0.3, seed=4)
    assert default_lambda(denser) > default_lambda(x) > 0
    assert ease_weights(x).nnz == ease_weights(x, default_lambda(x)).nnz


def test_the_evaluation_baseline_uses_the_same_solve():
    rng = np.random.default_rng(5)
    n_items = 20
    products = pd.DataFrame({S.PRODUCT_ID: [f"p{i:02d}" for i in range(n_items)]})
    rows = [(f"u{u}", f"p{i:02d}", "purchase", pd.Timestamp("2024-01-01", tz="UTC"))
            for u in range(30) for i in rng.choice(n_items - 2, size=4, replace=False)]
    events = pd.DataFrame(rows, columns=[S.USER_ID, S.PRODUCT_ID, S.EVENT_TYPE, S.TIMESTAMP])
    data = build_eval_data(products, events)
    scorer = EASEScorer()
    scorer.fit(data, {"lambda": 40.0})
    users = np.arange(10)
    expected = ease_scores(data.matrix[users], ease_weights(data.matrix, 40.0, top_n=None))
    np.testing.assert_allclose(scorer.score(users), expected, rtol=1e-5, atol=1e-6)
