"""Per-item values of a whole catalogue stored as arrays instead of one Python object per item.

A million products as a list of frozensets of strings (their label terms) or of tuples (their category
levels) cost over a gigabyte per server process; the same values as integer codes into one table of
distinct values cost a few tens of megabytes. Both classes read like the lists they replace:
`values[i]` is item i's value, `len(values)` the number of items.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Generic, TypeVar, overload

import numpy as np

__all__ = ["Coded", "PackedSets"]

T = TypeVar("T", bound=Hashable)


class Coded(Sequence[T], Generic[T]):
    """One value per item as a code into the table of distinct values."""

    def __init__(self, values: Iterable[T]) -> None:
        table: dict[T, int] = {}
        self.codes = np.fromiter((table.setdefault(v, len(table)) for v in values), np.int32)
        self.distinct: list[T] = list(table)

    def __len__(self) -> int:
        return len(self.codes)

    @overload
    def __getitem__(self, i: int) -> T: ...
    @overload
    def __getitem__(self, i: slice) -> list[T]: ...

    def __getitem__(self, i: int | slice) -> T | list[T]:
        if isinstance(i, slice):
            return [self.distinct[c] for c in self.codes[i].tolist()]
        return self.distinct[int(self.codes[i])]


class PackedSets(Sequence[frozenset[str]]):
    """One set of words per item: word ids in one array, item i's at `ids[offsets[i]:offsets[i + 1]]`."""

    def __init__(self, sets: Iterable[Iterable[str]]) -> None:
        vocab: dict[str, int] = {}
        ids: list[int] = []
        offsets = [0]
        for words in sets:
            ids.extend(vocab.setdefault(w, len(vocab)) for w in words)
            offsets.append(len(ids))
        self.ids = np.asarray(ids, np.int32)
        self.offsets = np.asarray(offsets, np.int64)
        self.words: list[str] = list(vocab)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def counts(self) -> dict[str, int]:
        """How many items hold each word."""
        return dict(zip(self.words, np.bincount(self.ids, minlength=len(self.words)).tolist(), strict=True))

    @overload
    def __getitem__(self, i: int) -> frozenset[str]: ...
    @overload
    def __getitem__(self, i: slice) -> list[frozenset[str]]: ...

    def __getitem__(self, i: int | slice) -> frozenset[str] | list[frozenset[str]]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"item {i} of {len(self)}")
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        return frozenset(self.words[w] for w in self.ids[lo:hi].tolist())
