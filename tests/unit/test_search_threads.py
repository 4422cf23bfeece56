"""OpenMP keeps its thread count per calling thread: the count a server sets once must reach the request
threads that search, and a `search_threads` block must keep its own count."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import faiss
import numpy as np
import pytest

from recsys.index import faiss_index
from recsys.index.choose import choose_index
from recsys.index.faiss_index import FaissIndex, search_threads, set_search_threads

#: A count no thread gets by default (OpenMP's default is the number of cores).
ODD = 7


@pytest.fixture
def odd_count() -> Iterator[None]:
    before, main_before = faiss_index._search_threads, faiss.omp_get_max_threads()
    set_search_threads(ODD)
    try:
        yield
    finally:
        faiss_index._search_threads = before
        faiss.omp_set_num_threads(main_before)


def _index() -> FaissIndex:
    x = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
    return FaissIndex.build(x / np.linalg.norm(x, axis=1, keepdims=True), choose_index(64, 8), threads=1)


def _threads_after(fn) -> int:
    def run() -> int:
        fn()
        return faiss.omp_get_max_threads()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def test_a_new_thread_searches_with_the_set_count(odd_count) -> None:
    index = _index()
    q = np.ones((1, 8), np.float32) / np.sqrt(8)
    assert _threads_after(lambda: None) != ODD  # OpenMP's own default in a fresh thread
    assert _threads_after(lambda: index.search(q, 3)) == ODD


def test_a_search_threads_block_keeps_its_count(odd_count) -> None:
    index = _index()
    q = np.ones((1, 8), np.float32) / np.sqrt(8)
    seen: list[int] = []

    def block() -> None:
        with search_threads(3):
            index.search(q, 3)
            seen.append(faiss.omp_get_max_threads())

    _threads_after(block)
    assert seen == [3]
