"""A catalogue-sized id map and string column without one Python object per id.

`IdMap` keeps its ids as an object array and looks them up through a pandas hash index: at a million
products that is a million `str` objects (≈60 MB) plus the index's table (≈30 MB) in every server
process. `HashedIdMap` answers the same calls from the ids as one numpy `StringDType` array (short ids
are stored inline: 16 bytes each) and a sorted array of their hashes: a lookup hashes the key,
binary-searches the hashes and confirms the id stored at that row, so a hash collision can never return
a wrong row (colliding ids, vanishingly rare, are kept in a small dict). `strings` gives any text column
the same compact storage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recsys.features.ids import MISSING, IdMap

__all__ = ["HashedIdMap", "strings", "STRING"]

#: Strings as numpy stores them compactly; a missing value (NaN) stays NaN, as in an object array.
STRING = np.dtypes.StringDType(na_object=np.nan)
#: Values converted through Python objects at a time: bounds the temporary `str` objects.
_CHUNK = 65_536


def strings(values: pd.Series | np.ndarray | Iterable[object]) -> np.ndarray:
    """`values` as a `STRING` array, converted a chunk at a time (never a Python object per value at once)."""
    if not isinstance(values, (pd.Series, np.ndarray)):
        values = np.asarray(list(values), dtype=object)
    out = np.empty(len(values), dtype=STRING)
    for a in range(0, len(values), _CHUNK):
        part = values.iloc[a : a + _CHUNK] if isinstance(values, pd.Series) else values[a : a + _CHUNK]
        out[a : a + len(part)] = np.asarray(part, dtype=object) if not isinstance(part, pd.Series) \
            else part.to_numpy(dtype=object)
    return out


def _hashes(keys: np.ndarray) -> np.ndarray:
    """Python's own hashes of an object array of ids. They differ between processes (string hashing is
    seeded per process), which is fine: a map is built in the process that uses it and never stored."""
    return np.fromiter((_hash(k) for k in keys.tolist()), np.int64, len(keys))


_hash = hash  # one id's hash (a name of its own so that tests can force collisions)


@dataclass(frozen=True)
class HashedIdMap(IdMap):
    """`IdMap`'s lookups (`row`, `rows`, `in`, `len`, `ids[row]`) over `STRING` ids and sorted hashes."""

    _sorted: np.ndarray = field(init=False, repr=False, compare=False)  # int64 hashes, ascending
    _order: np.ndarray = field(init=False, repr=False, compare=False)  # row of each sorted hash (int32)
    _collided: dict[Any, int] = field(init=False, repr=False, compare=False)  # ids sharing a hash → row

    def __post_init__(self) -> None:
        ids = self.ids if isinstance(self.ids, np.ndarray) and self.ids.dtype == STRING else strings(self.ids)
        h = np.empty(len(ids), np.int64)
        for a in range(0, len(ids), _CHUNK):
            h[a : a + _CHUNK] = _hashes(ids[a : a + _CHUNK].astype(object))
        order = np.argsort(h, kind="stable")
        ordered = h[order]
        same = np.flatnonzero(ordered[1:] == ordered[:-1])
        collided: dict[Any, int] = {}
        for i in np.unique(np.r_[same, same + 1]).tolist():
            row = int(order[i])
            key = ids[row]
            if key in collided:
                raise ValueError(f"an id map needs unique ids; repeated: {[key]}")
            collided[key] = row
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "_sorted", ordered)
        # rows fit int32 (a catalogue is far below 2**31 items): 4 MB less per million ids
        object.__setattr__(self, "_order", order.astype(np.int32))
        object.__setattr__(self, "_collided", collided)

    @classmethod
    def of(cls, ids: Iterable[object] | pd.Series | np.ndarray) -> HashedIdMap:
        return cls(strings(ids))

    def __contains__(self, key: object) -> bool:
        return self.row(key) is not None

    def row(self, key: object) -> int | None:
        """The row of one id, or None when the map does not hold it."""
        if key is None or (isinstance(key, float) and np.isnan(key)) or not len(self.ids):
            return None
        h = _hash(key)
        at = min(int(np.searchsorted(self._sorted, h)), len(self._sorted) - 1)
        row = int(self._order[at])
        if self._sorted[at] == h and self.ids[row] == key:
            return row
        return self._collided.get(key)

    def rows(self, keys: Iterable[object] | pd.Series | np.ndarray) -> np.ndarray:
        """Rows of many ids as int64; −1 for ids the map does not hold and for missing ids (None/NaN)."""
        arr = np.asarray(keys.to_numpy(dtype=object) if isinstance(keys, pd.Series) else list(keys)
                         if not isinstance(keys, np.ndarray) else keys, dtype=object)
        out = np.full(len(arr), MISSING, np.int64)
        if len(arr) == 0 or len(self.ids) == 0:
            return out
        present = np.flatnonzero(~pd.isna(arr))
        wanted = arr[present]
        h = _hashes(wanted)
        at = np.minimum(np.searchsorted(self._sorted, h), len(self._sorted) - 1)
        cand = self._order[at]
        # the hash only narrows the search: the row counts once its stored id equals the key (Python ==)
        hit = (self._sorted[at] == h) & (self.ids[cand].astype(object) == wanted)
        out[present[hit]] = cand[hit]
        if self._collided:
            for i in np.flatnonzero(~hit).tolist():
                row = self._collided.get(wanted[i])
                if row is not None:
                    out[present[i]] = row
        return out
