"""Multi-source candidate generation, merged and de-duplicated before ranking.

Sources (each an ordered top list per user, history and excluded items removed):
- ``vector``: neighbours of the user's profile vector in the text-embedding index;
- ``recent``: neighbours of each of the most recent items' vectors, interleaved by rank;
- ``knn``: order-aware ItemKNN over co-occurrence: Σ decay^i × sim(i-th most recent item, ·);
- ``next``: directed transitions from the recent items: Σ decay^i × T(i-th most recent item → ·);
- ``ease``: the EASE scores of the binary positive history (history @ `ItemFeatures.ease`), positive ones;
- ``popular``: the most popular items.
Every candidate keeps its rank in each source that produced it (NaN where none did), so the ranker and
the explanation can say which sources found it.

Ties. Equal scores inside a source (identical vectors of variant copies, equal co-occurrence counts) are
ordered by `ItemFeatures.tiebreak`, a seeded random rank, never by catalogue position or product id:
catalogues are often stored in id order, and a source rank that follows id order would hand the ranker
an id-order signal (on data whose same-day events were sorted by id, "next" really is "higher id").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys.errors import ConfigError
from recsys.features.items import ItemFeatures
from recsys.features.sequences import MAX_HISTORY, UserBatch

__all__ = ["SOURCES", "CandidateParams", "Candidates", "VectorSearch", "exact_search", "generate_candidates",
           "history_matrix", "binary_history", "item_neighbours", "top_order"]

SOURCES = ("vector", "recent", "knn", "next", "ease", "popular")
#: queries (m × d), n → positions (m × n), best first, −1 padded.
VectorSearch = Callable[[np.ndarray, int], np.ndarray]


@dataclass(frozen=True)
class CandidateParams:
    vector: int = 100
    recent: int = 40
    knn: int = 150
    next: int = 50
    ease: int = 100
    popular: int = 30
    recent_items: int = 3
    decay: float = 0.5
    sources: tuple[str, ...] = SOURCES

    def __post_init__(self) -> None:
        unknown = sorted(set(self.sources) - set(SOURCES))
        if unknown or not self.sources:
            raise ConfigError(f"candidate sources must be a non-empty subset of {SOURCES}, got {self.sources}")
        sizes = (self.vector, self.recent, self.knn, self.next, self.ease, self.popular, self.recent_items)
        if min(sizes) < 1 or not 0 < self.decay <= 1:
            raise ConfigError(f"candidate sizes must be >= 1 and decay in (0, 1], got {self}")


@dataclass(frozen=True)
class Candidates:
    positions: np.ndarray  # b × C catalogue positions, −1 padded
    ranks: dict[str, np.ndarray]  # source → b × C rank in that source (0 = best), NaN when absent
    knn_recent: np.ndarray  # b × n decayed ItemKNN from the recent items (reused as a feature)
    knn_all: np.ndarray  # b × n ItemKNN from the whole (capped) history
    next_recent: np.ndarray  # b × n decayed transitions from the recent items
    ease: np.ndarray  # b × n EASE scores of the binary positive history

    def sources_of(self, b: int, c: int) -> tuple[str, ...]:
        return tuple(s for s in SOURCES if s in self.ranks and not np.isnan(self.ranks[s][b, c]))

    def fusion_scores(self, k: float = 10.0) -> np.ndarray:
        """Reciprocal rank fusion Σ_s 1 / (k + rank_s): the hand score of the `multisource` method."""
        out = np.zeros(self.positions.shape, np.float32)
        for r in self.ranks.values():
            out += np.where(np.isnan(r), 0.0, 1.0 / (k + np.nan_to_num(r))).astype(np.float32)
        return np.where(self.positions >= 0, out, -np.inf).astype(np.float32)


def _ordered_keys(scores: np.ndarray, tiebreak: np.ndarray | None) -> np.ndarray:
    """int64 keys whose descending order is (score descending, tiebreak ascending).

    The float32 score's bits (made order-preserving) fill the high 32 bits and the inverted tie-break rank
    the low 32, so one `argpartition` picks an exact top n even when ties straddle the cut.
    """
    v = np.asarray(scores, np.float32) + np.float32(0.0)  # −0.0 → 0.0
    bits = v.view(np.int32).astype(np.int64)
    keys = np.where(bits < 0, bits ^ np.int64(0x7FFFFFFF), bits) << 32
    if tiebreak is not None:
        tb = np.asarray(tiebreak, np.int64)
        keys |= (np.int64(0xFFFFFFFF) - tb) & np.int64(0xFFFFFFFF)
    return keys


def top_order(scores: np.ndarray, n: int, tiebreak: np.ndarray | None) -> np.ndarray:
    """Per row of `scores` (m × N): the columns of the `n` best, best first; ties in `tiebreak` order
    (`tiebreak` is indexed by column; None keeps the column order, only for callers without one)."""
    n = min(n, scores.shape[1])
    if n <= 0:
        return np.zeros((len(scores), 0), np.int64)
    desc = ~_ordered_keys(scores, tiebreak)  # ~x = −x − 1: reverses the order without overflow
    top = np.argpartition(desc, n - 1, axis=1)[:, :n] if n < desc.shape[1] else np.tile(
        np.arange(desc.shape[1]), (len(desc), 1))
    order = np.argsort(np.take_along_axis(desc, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1).astype(np.int64)


def exact_search(vectors: np.ndarray, tiebreak: np.ndarray | None = None) -> VectorSearch:
    """Exact inner-product top-n over `vectors` (the evaluation path; serving passes the FAISS index).
    Equal similarities (identical vectors) come back in `tiebreak` order."""

    def search(queries: np.ndarray, n: int) -> np.ndarray:
        return top_order(queries @ vectors.T, n, tiebreak)

    return search


def history_matrix(batch: UserBatch, n: int, recent: int | None, decay: float) -> sp.csr_matrix:
    """b × n weights: decay^i on the i-th most recent item (the last `recent`, or MAX_HISTORY at 1.0)."""
    padded = batch.padded(recent or MAX_HISTORY)
    rows, cols = np.nonzero(padded >= 0)
    w = decay ** cols.astype(np.float32) if recent else np.ones(len(cols), np.float32)
    m = sp.csr_matrix((w, (rows, padded[rows, cols])), shape=(len(batch), n), dtype=np.float32)
    m.sum_duplicates()
    return m


def binary_history(batch: UserBatch, n: int) -> sp.csr_matrix:
    """b × n: 1 on every item of each user's (whole) positive history."""
    lens = np.array([len(h) for h in batch.hist], np.int64)
    cols = np.concatenate(batch.hist).astype(np.int64) if lens.sum() else np.zeros(0, np.int64)
    rows = np.repeat(np.arange(len(batch)), lens)
    m = sp.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(len(batch), n), dtype=np.float32)
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def _dense_top(scores: np.ndarray, excluded: np.ndarray, n: int, tiebreak: np.ndarray) -> list[np.ndarray]:
    """Per row: the positive-scored, non-excluded columns, best first (ties in `tiebreak` order), at most n."""
    s = np.where(excluded, -np.inf, scores)
    top = top_order(s, n, tiebreak)
    vals = np.take_along_axis(s, top, axis=1)
    return [t[v > 0] for t, v in zip(top, vals, strict=True)]


def _interleaved(ids: np.ndarray, n: int, excluded: np.ndarray, owner: np.ndarray, n_users: int) -> list[np.ndarray]:
    """Per user: the positions in `ids` rows (one row per query), not excluded, interleaved by rank
    over that user's queries, de-duplicated (first occurrence kept, so the order stays rank order),
    first `n` kept."""
    out: list[list[np.ndarray]] = [[] for _ in range(n_users)]
    for q, row in enumerate(ids):
        row = row[row >= 0]
        out[owner[q]].append(row[~excluded[owner[q], row]])
    merged = []
    for lists in out:
        if not lists:
            merged.append(np.zeros(0, np.int64))
            continue
        width = max(len(x) for x in lists)
        grid = np.full((width, len(lists)), -1, np.int64)
        for j, x in enumerate(lists):
            grid[: len(x), j] = x
        flat = grid.ravel()  # rank 0 of every query, then rank 1, …
        flat = flat[flat >= 0]
        _, first = np.unique(flat, return_index=True)
        merged.append(flat[np.sort(first)][:n])
    return merged


def item_neighbours(vectors: np.ndarray, n: int, chunk: int = 1024, tiebreak: np.ndarray | None = None,
                    rows: np.ndarray | None = None) -> np.ndarray:
    """n_items × n exact nearest items of every item (itself included): a lookup table that replaces
    one search per recent item when many users are ranked at once (offline evaluation, training).
    Equal similarities are in `tiebreak` order. With `rows` (catalogue positions) only those rows are
    searched, the others hold -1: the search costs rows × items, so callers that know which items
    can be looked up (the items of the users they rank) pass them on large catalogues."""
    search = exact_search(vectors, tiebreak)
    if rows is None:
        return np.concatenate([search(vectors[a : a + chunk], n) for a in range(0, len(vectors), chunk)])
    rows = np.unique(np.asarray(rows, np.int64))
    out = np.full((len(vectors), min(n, len(vectors))), -1, np.int64)
    for a in range(0, len(rows), chunk):
        part = rows[a : a + chunk]
        out[part] = search(vectors[part], n)
    return out


def generate_candidates(
    ctx: ItemFeatures, batch: UserBatch, params: CandidateParams, excluded: np.ndarray, search: VectorSearch,
    neighbours: np.ndarray | None = None,
) -> Candidates:
    """Top lists of every enabled source, merged per user in source order; `excluded` is b × n bool.

    `neighbours` (from `item_neighbours`) answers the recent-item source from a table instead of `search`.
    """
    n, b = ctx.n_items, len(batch)
    knn_recent = np.asarray((history_matrix(batch, n, params.recent_items, params.decay) @ ctx.cooc).todense(),
                            np.float32)
    knn_all = np.asarray((history_matrix(batch, n, None, 1.0) @ ctx.cooc).todense(), np.float32)
    next_recent = np.asarray((history_matrix(batch, n, params.recent_items, params.decay) @ ctx.trans).todense(),
                             np.float32)
    ease = np.asarray((binary_history(batch, n) @ ctx.ease).todense(), np.float32)
    lists: dict[str, list[np.ndarray]] = {}
    has_hist = np.array([len(h) > 0 for h in batch.hist])
    if "vector" in params.sources and has_hist.any():
        extra = int(excluded.sum(axis=1).max(initial=0))
        lists["vector"] = _interleaved(search(batch.profile, params.vector + extra), params.vector, excluded,
                                       np.arange(b), b)
    if "recent" in params.sources and has_hist.any():
        recent = batch.padded(params.recent_items)
        owner, slot = np.nonzero(recent >= 0)
        items = recent[owner, slot]
        if neighbours is not None:
            ids = neighbours[items]
        else:
            ids = search(ctx.vectors[items], params.recent + int(excluded.sum(axis=1).max(initial=0)))
        lists["recent"] = _interleaved(ids, params.recent, excluded, owner, b)
    if "knn" in params.sources:
        lists["knn"] = _dense_top(knn_recent, excluded, params.knn, ctx.tiebreak)
    if "next" in params.sources:
        lists["next"] = _dense_top(next_recent, excluded, params.next, ctx.tiebreak)
    if "ease" in params.sources:
        lists["ease"] = _dense_top(ease, excluded, params.ease, ctx.tiebreak)
    if "popular" in params.sources:
        fetch = ctx.popular[: params.popular + int(excluded.sum(axis=1).max(initial=0))]
        lists["popular"] = [fetch[~excluded[i, fetch]][: params.popular] for i in range(b)]
    merged = []
    for i in range(b):  # sources in SOURCES order, each best first; an item keeps its first place
        flat = np.concatenate([lists[s][i] for s in SOURCES if s in lists] or [np.zeros(0, np.int64)]).astype(np.int64)
        _, first = np.unique(flat, return_index=True)
        merged.append(flat[np.sort(first)])
    width = max((len(m) for m in merged), default=0)
    positions = np.full((b, width), -1, np.int64)
    ranks = {s: np.full((b, width), np.nan, np.float32) for s in lists}
    for i, m in enumerate(merged):
        positions[i, : len(m)] = m
        order = np.argsort(m, kind="stable")
        for s, per_user in lists.items():
            src = per_user[i]
            if len(src):
                ranks[s][i, order[np.searchsorted(m[order], src)]] = np.arange(len(src), dtype=np.float32)
    return Candidates(positions=positions, ranks=ranks, knn_recent=knn_recent, knn_all=knn_all,
                      next_recent=next_recent, ease=ease)
