"""`MemoSearch`: the wrapped index's answers, each single-vector search sent to it once while remembered,
least recently used forgotten first; batches pass straight through."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.errors import ArtifactError
from recsys.index import ExactIndex
from recsys.index.base import SearchResult
from recsys.index.memo import MemoSearch


class Counting(ExactIndex):
    def __init__(self, vectors: np.ndarray) -> None:
        super().__init__(vectors)
        self.asked: list[int] = []

    def search(self, queries: np.ndarray, k: int) -> SearchResult:
        self.asked.append(len(np.atleast_2d(queries)))
        return super().search(queries, k)


def _unit(rng: np.random.Generator, n: int, dim: int = 8) -> np.ndarray:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_repeated_searches_give_the_index_answer_and_reach_it_once() -> None:
    rng = np.random.default_rng(0)
    inner = Counting(_unit(rng, 50))
    memo = MemoSearch(inner, capacity=8)
    q = _unit(rng, 1)
    first = memo.search(q, 5)
    again = memo.search(q[0], 5)  # the same vector as a 1-d array
    truth = ExactIndex(inner._vectors).search(q, 5)
    for got in (first, again):
        np.testing.assert_array_equal(got[1], truth[1])
        np.testing.assert_allclose(got[0], truth[0])
    assert inner.asked == [1] and (memo.hits, memo.misses) == (1, 1)
    memo.search(q, 6)  # another k is another search
    assert inner.asked == [1, 1] and len(memo) == 50 and memo.dim == 8


def test_what_a_caller_does_to_an_answer_does_not_change_the_remembered_one() -> None:
    rng = np.random.default_rng(1)
    memo = MemoSearch(ExactIndex(_unit(rng, 20)), capacity=4)
    q = _unit(rng, 1)
    scores, ids = memo.search(q, 3)
    expected = ids.copy()
    ids[:] = -1
    scores[:] = 0
    np.testing.assert_array_equal(memo.search(q, 3)[1], expected)


def test_it_forgets_the_least_recently_used_and_passes_batches_through() -> None:
    rng = np.random.default_rng(2)
    inner = Counting(_unit(rng, 30))
    memo = MemoSearch(inner, capacity=2)
    a, b, c = _unit(rng, 3)
    memo.search(a, 3)
    memo.search(b, 3)
    memo.search(a, 3)  # a is now the most recently used
    memo.search(c, 3)  # forgets b
    inner.asked.clear()
    memo.search(a, 3)
    memo.search(c, 3)
    assert inner.asked == []
    memo.search(b, 3)
    assert inner.asked == [1]
    batch = np.stack([a, b])
    np.testing.assert_array_equal(memo.search(batch, 3)[1], inner.search(batch, 3)[1])
    assert inner.asked[-2:] == [2, 2] and memo.misses == 4  # the batch was neither remembered nor counted


def test_limits_and_what_it_cannot_do() -> None:
    inner = ExactIndex(np.eye(4, dtype=np.float32))
    with pytest.raises(ValueError, match="capacity"):
        MemoSearch(inner, capacity=0)
    memo = MemoSearch(inner, capacity=1)
    assert memo.with_search_params({"efSearch": 16}) is inner  # an exact index has no parameters to apply
    with pytest.raises(ValueError, match="dimension"):
        memo.search(np.ones((1, 3), np.float32), 2)
    with pytest.raises(ArtifactError, match="save the index it wraps"):
        memo.save(Path("unused"))
