"""The online-state cache: reused while the user's last event seq is unchanged, within the TTL, bounded."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.online.cache import StateCache
from recsys.online.profiles import UserState


def _state(n: int) -> UserState:
    return UserState(pd.DataFrame({"x": range(n)}), np.ones(4, np.float32), n)


def test_a_new_event_a_new_config_or_the_ttl_invalidates():
    now = [0.0]
    cache = StateCache(max_users=10, ttl_s=30, clock=lambda: now[0])
    cache.put("cfg", "u", 5, _state(1))
    assert cache.get("cfg", "u", 5) is not None
    assert cache.get("cfg", "u", 6) is None  # the user has a newer event
    assert cache.get("other", "u", 5) is None  # another blend config profiles differently
    now[0] = 31.0
    assert cache.get("cfg", "u", 5) is None  # event weights decay with the clock
    assert (cache.hits, cache.misses) == (1, 3)


def test_least_recently_used_users_leave_first():
    cache = StateCache(max_users=2)
    cache.put("c", "a", 1, _state(1))
    cache.put("c", "b", 1, _state(2))
    assert cache.get("c", "a", 1) is not None  # a is now the most recent
    cache.put("c", "c", 1, _state(3))
    assert len(cache) == 2 and cache.get("c", "b", 1) is None and cache.get("c", "a", 1) is not None
    off = StateCache(max_users=0)
    off.put("c", "a", 1, _state(1))
    assert len(off) == 0
