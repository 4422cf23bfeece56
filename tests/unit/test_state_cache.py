"""The per-user caches: reused while the user's last event seq is unchanged, within the TTL, bounded."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.online.cache import AnswerCache, SeqCache, StateCache
from recsys.online.profiles import UserState


def _state(n: int) -> UserState:
    return UserState(pd.DataFrame({"x": range(n)}), np.ones(4, np.float32), n)


def test_a_new_event_a_new_config_or_the_ttl_invalidates():
    now = [0.0]
    cache = StateCache(max_entries=10, ttl_s=30, clock=lambda: now[0])
    cache.put(("cfg", "u"), 5, _state(1))
    assert cache.get(("cfg", "u"), 5) is not None
    assert cache.get(("cfg", "u"), 6) is None  # the user has a newer event
    assert cache.get(("other", "u"), 5) is None  # another blend config profiles differently
    now[0] = 31.0
    assert cache.get(("cfg", "u"), 5) is None  # event weights decay with the clock
    assert (cache.hits, cache.misses) == (1, 3)


def test_least_recently_used_users_leave_first():
    cache = StateCache(max_entries=2)
    cache.put(("c", "a"), 1, _state(1))
    cache.put(("c", "b"), 1, _state(2))
    assert cache.get(("c", "a"), 1) is not None  # a is now the most recent
    cache.put(("c", "c"), 1, _state(3))
    assert len(cache) == 2 and cache.get(("c", "b"), 1) is None and cache.get(("c", "a"), 1) is not None


def test_zero_size_or_zero_ttl_turns_a_cache_off():
    for off in (StateCache(max_entries=0), AnswerCache(max_entries=10, ttl_s=0.0)):
        off.put(("c", "a"), 1, _state(1))
        assert len(off) == 0 and off.get(("c", "a"), 1) is None and not off.enabled
        assert (off.hits, off.misses) == (0, 0)  # an off cache is not consulted, so it counts nothing


def test_an_emptied_cache_keeps_the_limits_and_drops_the_entries():
    now = [0.0]
    cache: SeqCache[str, int] = SeqCache(3, 7.0, clock=lambda: now[0])
    cache.put("k", 1, 42)
    fresh = cache.emptied()
    assert (fresh.max_entries, fresh.ttl_s, len(fresh)) == (3, 7.0, 0)
    assert fresh.get("k", 1) is None and cache.get("k", 1) == 42


def test_an_answer_is_reused_only_at_the_same_counters_unless_within_the_lag():
    now = [0.0]
    exact = AnswerCache(10, ttl_s=30, clock=lambda: now[0])
    exact.put(("c", "q"), 5, ("answer", 100))
    assert exact.answer(("c", "q"), 5, 100) == "answer"
    assert exact.answer(("c", "q"), 5, 101) is None  # someone's event moved the counters
    assert exact.answer(("c", "q"), 6, 100) is None  # the user's own event
    lagging = AnswerCache(10, ttl_s=30, lag_s=2, clock=lambda: now[0])
    lagging.put(("c", "q"), 5, ("answer", 100))
    now[0] = 2.0
    assert lagging.answer(("c", "q"), 5, 101) == "answer"  # within the accepted lag
    now[0] = 2.5
    assert lagging.answer(("c", "q"), 5, 101) is None and lagging.answer(("c", "q"), 5, 100) == "answer"
    now[0] = 31.0
    assert lagging.answer(("c", "q"), 5, 100) is None  # past the TTL, even at the same counters
    assert lagging.emptied().lag_s == 2


def test_answers_are_sized_in_result_rows_so_large_k_cannot_grow_the_cache():
    class Answer:
        def __init__(self, n: int) -> None:
            self.results = list(range(n))

    cache = AnswerCache(max_entries=25)
    cache.put(("c", "small"), 1, (Answer(10), 0))
    cache.put(("c", "big"), 1, (Answer(100), 0))  # heavier than the whole cache: not kept
    assert cache.used == 11 and len(cache) == 1
    cache.put(("c", "second"), 1, (Answer(10), 0))
    cache.put(("c", "third"), 1, (Answer(10), 0))  # 33 rows > 25: the least recent leaves
    assert cache.used == 22 and cache.answer(("c", "small"), 1, 0) is None
    cache.put(("c", "second"), 1, (Answer(2), 0))  # replacing an entry replaces its weight
    assert cache.used == 14 and len(cache) == 2
