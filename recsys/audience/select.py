"""Pure selection rules: exclusions and minimum score, the cross-campaign cap, the holdout group.

Candidates are long-format triples (campaign, user row, score). ``assign_capped`` is the greedy
rule "walk all triples by score descending; keep one while its user is in fewer than M audiences and
its campaign holds fewer than N users", so a user over the cap stays in the campaigns where they score
highest. The walk order is one sort of unique 64-bit keys; the walk itself is a plain loop compiled
with numba (millions of triples in well under a second, where Python would take minutes).

The holdout is a deterministic hash of (campaign id, user id): the same user is held out of the same
campaign in every run and on every machine, and different campaigns hold out different users.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numba
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
    if len(excl_keys):  # few exclusions against many candidates: binary search beats a hash set here
        excl_keys = np.sort(excl_keys)
        keys = camp * n_users + row
        at = np.minimum(np.searchsorted(excl_keys, keys), len(excl_keys) - 1)
        keep &= excl_keys[at] != keys
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


@numba.njit(cache=True, nogil=True)
def _walk(users: np.ndarray, camps: np.ndarray, n_users: int, n_camps: int, cap: int,
          size: int) -> np.ndarray:  # pragma: no cover - compiled; tested through assign_capped
    """The greedy over triples listed in walk order: keep while the user has < cap and the campaign
    < size kept triples."""
    per_user = np.zeros(n_users, np.int64)
    per_camp = np.zeros(n_camps, np.int64)
    kept = np.zeros(len(users), np.bool_)
    for i in range(len(users)):
        u, c = users[i], camps[i]
        if per_user[u] < cap and per_camp[c] < size:
            kept[i] = True
            per_user[u] += 1
            per_camp[c] += 1
    return kept


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
    cap = n if max_per_user is None else max_per_user
    users, camps = c.row[order], c.campaign[order]
    kept = _walk(users, camps, int(users.max()) + 1, int(camps.max()) + 1, cap, size)
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
