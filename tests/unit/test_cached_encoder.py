"""`CachedEncoder`: each remembered (kind, text) reaches the engine once; bounded ones forget the least
recently used; kinds it does not cache always reach the engine; answers equal the engine's."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.encoders.base import Encoder, TextKind
from recsys.encoders.cached import QUERIES, CachedEncoder
from recsys.encoders.hashing import HashingEncoder


class Counting(Encoder):
    """The hashing encoder, recording every text the engine is asked for."""

    def __init__(self) -> None:
        self.inner = HashingEncoder(dim=16)
        self.name, self.dim = "counting", 16
        self.seen: list[tuple[str, str]] = []

    def _encode_sorted(self, texts: list[str], kind: TextKind, batch_size: int, progress: bool) -> np.ndarray:
        self.seen += [(kind, t) for t in texts]
        return self.inner._encode_sorted(texts, kind, batch_size, progress)


def test_a_bounded_query_cache_sends_each_text_once_and_forgets_the_least_recently_used() -> None:
    engine = Counting()
    cached = CachedEncoder(engine, capacity=2, kinds=QUERIES)
    first = cached.encode(["red dress", "shoes"], kind="query")
    np.testing.assert_array_equal(first, engine.inner.encode(["red dress", "shoes"], kind="query"))
    again = cached.encode(["shoes", "red dress", "shoes"], kind="query")  # all hits
    np.testing.assert_array_equal(again, first[[1, 0, 1]])
    cached.encode(["red dress"], kind="query")  # now the most recently used
    assert engine.seen == [("query", "red dress"), ("query", "shoes")]
    assert (cached.hits, cached.misses) == (3, 2)
    cached.encode(["hat"], kind="query")  # evicts "shoes", the least recently used
    assert len(cached) == 2
    engine.seen.clear()
    cached.encode(["red dress", "shoes"], kind="query")
    assert engine.seen == [("query", "shoes")]


def test_kinds_it_does_not_cache_always_reach_the_engine() -> None:
    engine = Counting()
    cached = CachedEncoder(engine, capacity=10, kinds=QUERIES)
    cached.encode(["a long passage"], kind="passage")
    cached.encode(["a long passage"], kind="passage")
    assert engine.seen == [("passage", "a long passage")] * 2 and len(cached) == 0


def test_capacity_zero_remembers_nothing_and_unbounded_remembers_every_kind() -> None:
    engine = Counting()
    off = CachedEncoder(engine, capacity=0)
    off.encode(["x"], kind="query")
    off.encode(["x"], kind="query")
    assert len(engine.seen) == 2 and len(off) == 0
    engine.seen.clear()
    memo = CachedEncoder(engine)
    for _ in range(2):
        memo.encode(["x", "y"], kind="query")
        memo.encode(["x"], kind="passage")
    assert sorted(engine.seen) == [("passage", "x"), ("query", "x"), ("query", "y")]
    with pytest.raises(ValueError, match="capacity"):
        CachedEncoder(engine, capacity=-1)


def test_missing_names_the_texts_an_encode_would_send_without_counting_or_reordering_the_cache() -> None:
    engine = Counting()
    cached = CachedEncoder(engine, capacity=2, kinds=QUERIES)
    cached.encode(["shoes", "hat"], kind="query")  # "shoes" is the least recently used
    assert cached.missing(["hat", "red dress", "red dress", "shoes"], "query") == ["red dress"]
    assert cached.missing(["hat"], "passage") == ["hat"]  # a kind it does not keep
    assert (cached.hits, cached.misses) == (0, 2)
    cached.encode(["scarf"], kind="query")  # still evicts "shoes": `missing` did not touch it
    assert cached.missing(["shoes", "hat", "scarf"], "query") == ["shoes"]
    assert CachedEncoder(engine, capacity=0).missing(["x", "x"], "query") == ["x"]
