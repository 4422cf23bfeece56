"""Bounded caches of per-user work, reused until the user's next stored event or a time limit.

Two things are cached per served index version (a reload starts empty ones, so nothing crosses
versions):

- *online user states* (`StateCache`): re-profiling a user with ingested events reads their stored
  events, merges them with the indexed history and encodes any new review or search text, which takes
  milliseconds (tens of them with a Transformer encoder);
- *answers* (`AnswerCache`): a user's ranked recommendations for one exact request (config, k, filters,
  flags), so a user who asks again (a page reload, a second widget) costs a lookup instead of a ranking.

An entry is reused while the user's latest stored event is the same (`EventStore.user_last_seq`, one
index probe, so an event written through any worker or node invalidates it on the next request) and it
is younger than `ttl_s`: event weights decay with the request time, with half-lives of days, so within
the TTL they move far less than a rounding error of the blend. An answer also depends on everyone else's
events (the live popularity and trending counters): it is reused only while the counters have applied
no newer event (the feed's watermark), unless it is younger than `lag_s`, the staleness an operator
accepts for repeated answers under a steady event stream (0 by default: every answer reflects every
event the process has synced).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from recsys.online.profiles import UserState

__all__ = ["SeqCache", "StateCache", "AnswerCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SeqCache(Generic[K, V]):
    """LRU of key → (seq, value, stored at) holding at most `max_entries` units (0 turns it off): one per
    entry here, what `_weigh` says in subclasses whose values differ much in size."""

    def __init__(self, max_entries: int = 10_000, ttl_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[K, tuple[int, V, float, int]] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.ttl_s > 0

    def get(self, key: K, seq: int) -> V | None:
        """The value stored for `key` at `seq`, unless the seq moved on or the entry is older than the TTL."""
        if not self.enabled:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != seq or self._clock() - entry[2] > self.ttl_s:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, key: K, seq: int, value: V) -> None:
        if not self.enabled:
            return
        weight = self._weigh(value)
        if weight > self.max_entries:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            self._used += weight - (old[3] if old is not None else 0)
            self._entries[key] = (seq, value, self._clock(), weight)
            while self._used > self.max_entries:
                self._used -= self._entries.popitem(last=False)[1][3]

    def _weigh(self, value: V) -> int:
        return 1

    @property
    def used(self) -> int:
        """Units held now (entries, or what `_weigh` counts)."""
        return self._used

    def emptied(self) -> SeqCache[K, V]:
        """A new, empty cache with the same limits (for the next index version)."""
        return type(self)(self.max_entries, self.ttl_s, self._clock)

    def __len__(self) -> int:
        return len(self._entries)


#: (blend config id, user id) → the user's online state.
StateCache = SeqCache[tuple[str, str], UserState]


class AnswerCache(SeqCache[tuple[str, Hashable], tuple[Any, int]]):
    """(blend config id, the request) → (what was answered, the counters' watermark it was ranked at).

    Sized in result rows (an answer weighs 1 + its number of results), not answers: callers choose k, so
    a count of answers would let large-k requests grow the cache a hundredfold."""

    def __init__(self, max_entries: int = 100_000, ttl_s: float = 30.0, lag_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(max_entries, ttl_s, clock)
        self.lag_s = lag_s

    def answer(self, key: tuple[str, Hashable], seq: int, watermark: int) -> Any | None:
        """The answer stored for `key` at the user's `seq`, if the counters are still at its watermark or
        it is at most `lag_s` old (and within the TTL)."""
        if not self.enabled:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == seq:
                age = self._clock() - entry[2]
                value, ranked_at = entry[1]
                if age <= self.ttl_s and (ranked_at == watermark or (self.lag_s > 0 and age <= self.lag_s)):
                    self._entries.move_to_end(key)
                    self.hits += 1
                    return value
            self.misses += 1
            return None

    def _weigh(self, value: tuple[Any, int]) -> int:
        answer = value[0]
        return 1 + len(getattr(getattr(answer, "answer", answer), "results", ()))

    def emptied(self) -> AnswerCache:
        return AnswerCache(self.max_entries, self.ttl_s, self.lag_s, self._clock)
