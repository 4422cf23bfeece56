"""A bounded cache of online user states, so a user's profile is not recomputed on every request.

Re-profiling a user with ingested events reads their stored events, merges them with the indexed
history and encodes any new review or search text: milliseconds, and tens of them with a Transformer
encoder. A cached state is reused while three things hold: the same index version (the cache lives in
the served version, so a reload starts an empty one), the same blend config (its profile parameters),
and the same latest stored event of the user (`EventStore.user_last_seq`, one index probe, so an event
written through any worker or node invalidates it on the next request). Event weights decay with the
request time, so an entry also expires after `ttl_s` seconds; with decay half-lives of days, the
weights it holds are then off by far less than a rounding error of the blend.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from recsys.online.profiles import UserState

__all__ = ["StateCache"]


class StateCache:
    """LRU of (config id, user id) → (last seq, state, stored at), at most `max_users` entries."""

    def __init__(self, max_users: int = 10_000, ttl_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_users = max_users
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[int, UserState, float]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, config_id: str, user_id: str, seq: int) -> UserState | None:
        key = (config_id, user_id)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != seq or self._clock() - entry[2] > self.ttl_s:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, config_id: str, user_id: str, seq: int, state: UserState) -> None:
        if self.max_users <= 0:
            return
        with self._lock:
            self._entries[(config_id, user_id)] = (seq, state, self._clock())
            self._entries.move_to_end((config_id, user_id))
            while len(self._entries) > self.max_users:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
