"""The single-user fast paths of the blend agree with the batch (sparse matrix) path they replace."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.ranking.blend import HistoryScores, OneRow, _scaled, history_weights, summed_history
from recsys.ranking.blend_ranker import Candidates


class _Items:
    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.n_items = n
        self.cooc = sp.random(n, n, density=0.05, format="csr", random_state=seed, dtype=np.float32)
        ease = sp.random(n, n, density=0.05, format="csr", random_state=seed + 1, dtype=np.float32)
        ease.data -= 0.3  # EASE weights can be negative
        self.ease = ease
        self.rng = rng


def _dense(row: OneRow) -> np.ndarray:
    out = np.zeros(row.shape, np.float32)
    out[0, row.indices] = row.data
    return out


def test_gathered_rows_equal_the_sparse_product():
    items = _Items(300, 0)
    pos = np.array([5, 17, 5, 299, -1, 42])
    w = np.array([1.0, 0.5, 2.0, 1.5, 9.0, 0.0])  # -1 and a zero weight are not history
    ids, sw = summed_history(pos, w)
    assert ids.tolist() == [5, 17, 299] and sw.tolist() == [3.0, 0.5, 1.5]
    hist = history_weights(pos, w, items.n_items)
    fast = HistoryScores.of_one(items, ids, sw)  # type: ignore[arg-type]
    binary = hist.copy()
    binary.data[:] = 1
    np.testing.assert_allclose(_dense(fast.cooc), (hist @ items.cooc).toarray(), rtol=1e-6)
    np.testing.assert_allclose(_dense(fast.ease), (binary @ items.ease).toarray(), rtol=1e-6, atol=1e-7)
    batch = HistoryScores.of(items, sp.vstack([hist, hist]).tocsr())  # type: ignore[arg-type]
    cols = np.array([0, 5, 17, 100, 250, 299])
    for one, two in ((fast.cooc, batch.cooc), (fast.ease, batch.ease)):
        np.testing.assert_allclose(_scaled(one, cols)[0], _scaled(two, cols)[1], rtol=1e-6, atol=1e-7)
    empty = HistoryScores.of_one(items, np.zeros(0, np.int64), np.zeros(0, np.float32))  # type: ignore[arg-type]
    assert empty.cooc.nnz == 0 and _scaled(empty.cooc, cols).tolist() == [[0.0] * len(cols)]


def test_candidates_merge_sources_in_first_appearance_order():
    c = Candidates()
    c.add(np.array([7, 3, 9]), "vector")
    c.add(np.array([3, 11]), "cooc")
    c.add(np.array([11, 7, 2]), "popular")
    assert c.positions().tolist() == [7, 3, 9, 11, 2]
    cand = c.positions()[[0, 1, 3, 4]]  # 9 filtered out
    names = c.names_of(cand)
    assert names(np.array([1, 0, 2, 3])) == [("vector", "cooc"), ("vector", "popular"), ("cooc", "popular"),
                                              ("popular",)]
