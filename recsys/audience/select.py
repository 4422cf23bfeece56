"""Pure selection rules: exclusions and minimum score, the cross-campaign cap, the holdout group.

Candidates are long-format triples (campaign, user row, score). ``assign_capped`` is the greedy
rule "walk all triples by score descending; keep one while its user is in fewer than M audiences and
its campaign holds fewer than N users", so a user over the cap stays in the campaigns where they score
highest. Walking millions of triples in Python is too slow, so it is computed as a vectorised fixpoint
that repeatedly marks triples certainly kept (fewer than M / N surviving triples precede them) and
certainly dropped (M / N certainly kept triples precede them); each round decides at least the first
undecided triple and in practice most of them (about 90% in the first round on clustered data). The
few left are finished by the plain sequential loop, so the result equals the sequential greedy exactly.

The holdout is a deterministic hash of (campaign id, user id): the same user is held out of the same
campaign in every run and on every machine, and different campaigns hold out different users.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recsys.errors import ConfigError

__all__ = ["Candidates", "filter_candidates", "assign_capped", "user_hashes", "holdout_mask"]

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


@dataclass(frozen=True)
class Candidates:
    """Long-format (campaign index, user row, score) triples."""

    campaign: np.ndarray  # int64
    row: np.ndarray  # int64
    score: np.ndarray  # float32

    def __len__(self) -> int:
        return len(self.row)

    def take(self, mask_or_idx: np.ndarray) -> Candidates:
        return Candidates(self.campaign[mask_or_idx], self.row[mask_or_idx], self.score[mask_or_idx])


def filter_candidates(scores: Sequence[np.ndarray], rows: Sequence[np.ndarray], excluded: Sequence[np.ndarray],
                      min_score: float | None) -> Candidates:
    """Flatten per-campaign answers, dropping padding, excluded users and scores below ``min_score``."""
    if not (len(scores) == len(rows) == len(excluded)):
        raise ConfigError("scores, rows and exclusions must have one entry per campaign")
    camp = np.concatenate([np.full(len(r), i, np.int64) for i, r in enumerate(rows)]) if rows else np.zeros(0, np.int64)
    row = np.concatenate([np.asarray(r, np.int64) for r in rows]) if rows else np.zeros(0, np.int64)
    score = np.concatenate([np.asarray(s, np.float32) for s in scores]) if scores else np.zeros(0, np.float32)
    keep = (row >= 0) & np.isfinite(score)
    if min_score is not None:
        keep &= score >= np.float32(min_score)
    n_users = int(max(row.max(initial=0), max((int(e.max(initial=0)) for e in excluded), default=0))) + 1
    excl_keys = np.concatenate([np.asarray(e, np.int64) + i * n_users for i, e in enumerate(excluded)]) \
        if excluded else np.zeros(0, np.int64)
    if len(excl_keys):
        keep &= ~np.isin(camp * n_users + row, excl_keys)
    return Candidates(camp[keep], row[keep], score[keep])


def _desc_key(score: np.ndarray) -> np.ndarray:
    """uint64 keys whose ascending order is ``score`` descending (IEEE bits made order-preserving)."""
    bits = np.ascontiguousarray(score, np.float32).view(np.uint32).astype(np.uint64)
    asc = np.where(bits >> np.uint64(31), ~bits & np.uint64(0xFFFFFFFF), bits | np.uint64(0x80000000))
    return np.uint64(0xFFFFFFFF) - asc


def _is_canonical(c: Candidates) -> bool:
    """Campaign-major, and inside each campaign by score descending then user row ascending."""
    if len(c) < 2:
        return True
    dc, ds, dr = np.diff(c.campaign), np.diff(c.score), np.diff(c.row)
    same = dc == 0
    return bool(np.all(dc >= 0) and np.all(~same | (ds < 0) | ((ds == 0) & (dr > 0))))


def _greedy_order(c: Candidates) -> np.ndarray:
    """On the canonical layout: score descending, then campaign, then user row — the greedy's walk.

    One argsort of unique 64-bit keys (score bits, position), which numpy sorts with SIMD.
    """
    if len(c) >= 1 << 32:
        raise ConfigError(f"{len(c):,} candidates exceed 2**32; build in several campaign batches")
    key = (_desc_key(c.score) << np.uint64(32)) | np.arange(len(c), dtype=np.uint64)
    return np.argsort(key)


def _group_perm(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions grouped by ``keys`` (ascending position inside a group) and each group's start flag."""
    n = len(keys)
    perm = np.argsort(keys.astype(np.int64) * n + np.arange(n, dtype=np.int64)) if n else np.zeros(0, np.int64)
    k = keys[perm]
    starts = np.r_[True, k[1:] != k[:-1]] if n else np.zeros(0, bool)
    return perm, starts


def _preceding(perm: np.ndarray, starts: np.ndarray, flag: np.ndarray) -> np.ndarray:
    """Per element (greedy order): how many earlier elements of its group have ``flag`` set.

    ``perm`` lists the elements grouped (and in greedy order inside each group); ``starts`` marks
    each group's first position in ``perm``.
    """
    f = flag[perm].astype(np.int32)
    cs = np.cumsum(f, dtype=np.int64) - f  # flags strictly before, over the whole permuted array
    base = np.maximum.accumulate(np.where(starts, cs, 0))
    out = np.empty(len(flag), np.int64)
    out[perm] = cs - base
    return out


#: Below this many undecided triples a plain loop finishes faster than another vectorised round.
SEQUENTIAL_FINISH = 300_000


def _finish(undecided: np.ndarray, users: np.ndarray, camps: np.ndarray, u_sure: np.ndarray, c_sure: np.ndarray,
            cap: int, size: int) -> np.ndarray:
    """The sequential greedy over the undecided triples (greedy positions, ascending).

    Decided triples never change, so a triple's user (campaign) count is the certainly kept triples
    before it (``u_sure``/``c_sure``) plus the undecided ones this loop has kept so far.
    """
    out = np.zeros(len(undecided), bool)
    extra_u: dict[int, int] = {}
    extra_c: dict[int, int] = {}
    for i, (u, k, bu, bc) in enumerate(zip(users[undecided].tolist(), camps[undecided].tolist(),
                                           u_sure[undecided].tolist(), c_sure[undecided].tolist(), strict=True)):
        eu, ec = extra_u.get(u, 0), extra_c.get(k, 0)
        if bu + eu < cap and bc + ec < size:
            out[i] = True
            extra_u[u], extra_c[k] = eu + 1, ec + 1
    return out


def assign_capped(c: Candidates, size: int, max_per_user: int | None) -> np.ndarray:
    """Boolean mask over ``c``: the triples the greedy keeps (see the module docstring)."""
    if size < 1:
        raise ConfigError(f"audience size must be >= 1, got {size}")
    if max_per_user is not None and max_per_user < 1:
        raise ConfigError(f"max_per_user must be >= 1 (or unset for no cap), got {max_per_user}")
    n = len(c)
    if n == 0:
        return np.zeros(0, bool)
    if not _is_canonical(c):
        layout = np.lexsort((c.row, -c.score, c.campaign))
        mask = np.zeros(n, bool)
        mask[layout] = assign_capped(c.take(layout), size, max_per_user)
        return mask
    order = _greedy_order(c)
    # Campaign-major layout: listing elements in layout order groups them by campaign, and inside a
    # campaign the layout order is the greedy order, so the grouping is the inverse permutation.
    c_perm = np.empty(n, np.int64)
    c_perm[order] = np.arange(n, dtype=np.int64)
    c_starts = np.r_[True, c.campaign[1:] != c.campaign[:-1]]
    if max_per_user is None:
        kept = _preceding(c_perm, c_starts, np.ones(n, bool)) < size
    else:
        users = c.row[order]
        u_perm, u_starts = _group_perm(users)
        alive = np.ones(n, bool)
        while True:
            sure = alive & (_preceding(u_perm, u_starts, alive) < max_per_user) \
                & (_preceding(c_perm, c_starts, alive) < size)
            u_sure, c_sure = _preceding(u_perm, u_starts, sure), _preceding(c_perm, c_starts, sure)
            dead = alive & ~sure & ((u_sure >= max_per_user) | (c_sure >= size))
            alive &= ~dead
            undecided = np.flatnonzero(alive & ~sure)
            if len(undecided) <= SEQUENTIAL_FINISH:
                break
        kept = sure
        kept[undecided] = _finish(undecided, users, c.campaign[order], u_sure, c_sure, max_per_user, size)
    mask = np.zeros(n, bool)
    mask[order] = kept
    return mask


def _splitmix64(x: np.ndarray) -> np.ndarray:
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & _M64
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _M64
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _M64
    return x ^ (x >> np.uint64(31))


def _hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def user_hashes(user_ids: Sequence[str] | np.ndarray) -> np.ndarray:
    """A stable 64-bit hash per user id (blake2b; independent of the Python process and machine)."""
    return np.fromiter((_hash64(str(u)) for u in user_ids), dtype=np.uint64, count=len(user_ids))


def holdout_mask(campaign_id: str, hashes: np.ndarray, fraction: float) -> np.ndarray:
    """True for users held out of ``campaign_id``: uniform(hash(campaign, user)) < ``fraction``."""
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"holdout fraction must be in [0, 1), got {fraction}")
    with np.errstate(over="ignore"):
        mixed = _splitmix64(np.asarray(hashes, np.uint64) ^ np.uint64(_hash64(campaign_id)))
    u = (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return u < fraction
