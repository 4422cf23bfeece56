from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.errors import ConfigError
from recsys.evaluation import metrics as M

L3, L6 = math.log2(3), math.log2(6)


def _one_user():
    ranked = np.array([[3, 1, 4, 0, 2]])
    targets = [np.array([1, 2])]
    return ranked, targets, M.hit_matrix(ranked, targets), M.target_counts(targets)


def test_hit_matrix_marks_target_positions():
    _, _, hits, n = _one_user()
    assert hits.tolist() == [[False, True, False, False, True]]
    assert n.tolist() == [2]


def test_recall_is_hits_over_number_of_targets():
    _, _, hits, n = _one_user()
    assert M.recall_at_k(hits, n, 1)[0] == 0.0
    assert M.recall_at_k(hits, n, 3)[0] == pytest.approx(0.5)
    assert M.recall_at_k(hits, n, 5)[0] == pytest.approx(1.0)


def test_ndcg_hand_computed():
    _, _, hits, n = _one_user()
    # hit at rank 2 (discount 1/log2 3) and rank 5 (1/log2 6); ideal: two hits at ranks 1 and 2
    assert M.ndcg_at_k(hits, n, 3)[0] == pytest.approx((1 / L3) / (1 + 1 / L3))
    assert M.ndcg_at_k(hits, n, 5)[0] == pytest.approx((1 / L3 + 1 / L6) / (1 + 1 / L3))


def test_ndcg_ideal_uses_min_of_k_and_targets():
    ranked = np.array([[7, 8, 9]])
    targets = [np.array([7, 5, 6])]  # three targets, only k=2 slots
    hits = M.hit_matrix(ranked, targets)
    assert M.ndcg_at_k(hits, M.target_counts(targets), 2)[0] == pytest.approx(1 / (1 + 1 / L3))
    perfect = M.hit_matrix(np.array([[5, 6, 9]]), targets)
    assert M.ndcg_at_k(perfect, M.target_counts(targets), 2)[0] == pytest.approx(1.0)


def test_mrr_first_hit_and_zero_without_hit():
    ranked = np.array([[3, 1, 4], [0, 1, 2]])
    targets = [np.array([4, 1]), np.array([9])]
    hits = M.hit_matrix(ranked, targets)
    assert M.reciprocal_rank(hits).tolist() == pytest.approx([0.5, 0.0])


def test_hit_rate_and_coverage():
    ranked = np.array([[3, 1, 4], [0, 1, -1]])
    targets = [np.array([4]), np.array([1])]
    hits = M.hit_matrix(ranked, targets)
    assert M.hit_rate_at_k(hits, 1).tolist() == [0.0, 0.0]
    assert M.hit_rate_at_k(hits, 2).tolist() == [0.0, 1.0]
    assert M.hit_rate_at_k(hits, 3).tolist() == [1.0, 1.0]
    # top-2 items: {3, 1, 0} of a 10-item catalogue; padding (-1) is never counted
    assert M.catalogue_coverage(ranked, 2, 10) == pytest.approx(0.3)
    assert M.catalogue_coverage(ranked, 3, 10) == pytest.approx(0.4)


def test_padding_is_never_a_hit_and_users_without_targets_are_nan():
    ranked = np.array([[-1, -1], [2, -1]])
    targets = [np.array([], dtype=np.int64), np.array([2])]
    hits = M.hit_matrix(ranked, targets)
    n = M.target_counts(targets)
    assert hits.tolist() == [[False, False], [True, False]]
    recall = M.recall_at_k(hits, n, 2)
    assert np.isnan(recall[0]) and recall[1] == 1.0


def test_k_outside_list_length_is_rejected():
    _, _, hits, n = _one_user()
    with pytest.raises(ConfigError, match="k=6"):
        M.recall_at_k(hits, n, 6)


def test_bootstrap_ci_constant_seeded_and_brackets_mean():
    assert M.bootstrap_ci(np.full(50, 0.3)) == pytest.approx((0.3, 0.3))
    v = np.random.default_rng(1).random(200)
    lo, hi = M.bootstrap_ci(v, n_boot=500, seed=3)
    assert lo < v.mean() < hi
    assert (lo, hi) == M.bootstrap_ci(v, n_boot=500, seed=3)
    assert M.bootstrap_ci(np.array([np.nan, 1.0, 1.0])) == pytest.approx((1.0, 1.0))
    with pytest.raises(ConfigError):
        M.bootstrap_ci(v, alpha=1.5)


def test_cold_items_restrict_targets():
    matrix = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 0, 1, 0]]))
    cold = M.cold_item_mask(matrix, max_interactions=1)
    assert cold.tolist() == [False, True, True, True]  # item 3 was never seen: cold too
    kept = M.restrict_targets([np.array([0, 1]), np.array([0])], cold)
    assert [k.tolist() for k in kept] == [[1], []]


def test_history_buckets_and_means():
    labels = M.history_buckets(np.array([1, 2, 3, 5, 6, 10, 11, 40, 0]))
    assert labels.tolist() == ["1-2", "1-2", "3-5", "3-5", "6-10", "6-10", "11+", "11+", ""]
    by = M.mean_by_label(np.array([1.0, 0.0, 1.0, np.nan]), np.array(["a", "a", "b", "b"], dtype=object))
    assert by == {"a": {"users": 2, "mean": 0.5}, "b": {"users": 1, "mean": 1.0}}
