"""One id map: external ids (product ids, user ids) ↔ row positions.

Every array of per-item or per-user values in recsys is in the order of one `IdMap`: catalogue order for
products, sorted order for users with a profile. Lookups of many ids go through a pandas hash index once
(vectorised); unknown and missing ids map to −1, never to a silent wrong row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import pandas as pd

__all__ = ["IdMap", "MISSING"]

#: Row of an id the map does not hold (or of a missing id): never a valid position.
MISSING = -1


@dataclass(frozen=True)
class IdMap:
    """`ids[row]` is the external id of `row`; `rows(ids)` the rows of many ids (−1 where unknown)."""

    ids: np.ndarray
    _index: pd.Index = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = np.asarray(self.ids, dtype=object)
        index = pd.Index(ids, dtype=object)
        if not index.is_unique:
            dupes = index[index.duplicated()].unique()[:5].tolist()
            raise ValueError(f"an id map needs unique ids; repeated: {dupes}")
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "_index", index)

    @classmethod
    def of(cls, ids: Iterable[object] | pd.Series | np.ndarray) -> IdMap:
        return cls(np.asarray(list(ids) if not isinstance(ids, (pd.Series, np.ndarray)) else ids, dtype=object))

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def row(self, key: object) -> int | None:
        """The row of one id, or None when the map does not hold it."""
        if key is None or key not in self._index:
            return None
        # ids are unique (checked in __post_init__), so get_loc gives one position, never a slice or mask
        return int(cast(int, self._index.get_loc(key)))

    def rows(self, keys: Iterable[object] | pd.Series | np.ndarray) -> np.ndarray:
        """Rows of many ids as int64; −1 for ids the map does not hold and for missing ids (None/NaN)."""
        arr = np.asarray(keys.to_numpy(dtype=object) if isinstance(keys, pd.Series) else list(keys)
                         if not isinstance(keys, np.ndarray) else keys, dtype=object)
        if len(arr) == 0:
            return np.zeros(0, np.int64)
        out = self._index.get_indexer(pd.Index(arr, dtype=object)).astype(np.int64)
        out[pd.isna(arr)] = MISSING
        return out
