"""EASE item–item weights (H. Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019).

For a binary user × item matrix X and a ridge weight λ, EASE's weight matrix has the closed form

    P = (XᵀX + λI)⁻¹,   B = I − P·diag(1 / diag(P)),   i.e. B[i, j] = −P[i, j] / P[j, j], B[j, j] = 0,

and a user with history row x scores the catalogue as ``x @ B``. Pure functions, no state:

* ``ease_dense(gram, lam)``: the dense B for a given Gram matrix XᵀX (the evaluation baseline caches the
  Gram across its λ grid and calls this).
* ``ease_weights(x, lam)``: B as a sparse CSR matrix over the whole catalogue, keeping the ``top_n``
  largest weights of each row (row i = the targets of history item i), diagonal zero.
* ``ease_scores(history, b)``: dense float32 scores ``history @ b``.

Cost. The solve is dense: O(n³) time and n² × 4 bytes per float32 copy of an n × n matrix, for n the
items solved over. About three copies are alive at once (the Gram, the factor/inverse that becomes B, and
the next or previous B while a grid is tuned), so ``MAX_DENSE_ITEMS`` = 20,000 items means
1.6 GB per copy and ≈ 4.8 GB at peak. Measured on the 2-core development machine (shared with other
jobs): 12,092 items (Beauty) take 0.6 GB per copy, ≈ 40 s per solve and 2.1 GB peak RSS for the whole
process; 20,000 items would take ≈ 4.5× as long, about 3 minutes.

Fallback above the cap: ``ease_weights`` solves over the ``max_dense_items`` most popular items only
(most distinct users; ties in a seeded random order, never by id). Every other item gets no EASE
neighbours: an empty row and column of B, so it scores 0 and contributes nothing to other scores.

λ. Larger λ shrinks B towards the scaled co-occurrence counts (more popularity), smaller λ towards the
exact regression. ``default_lambda`` = ``LAMBDA_SCALE × sqrt(density)``; its docstring shows how it
compares with the λ tuned on the shared reference data (≈ 350 vs 250 on Gift Cards, ≈ 50 vs 50 on Beauty).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from numpy.typing import DTypeLike
from scipy.linalg import lapack

from recsys.errors import ConfigError, RecsysError

__all__ = [
    "MAX_DENSE_ITEMS",
    "DEFAULT_TOP_N",
    "dense_items",
    "gram_matrix",
    "ease_dense",
    "default_lambda",
    "ease_weights",
    "ease_scores",
    "top_n_per_row",
]

MAX_DENSE_ITEMS = 20_000
DEFAULT_TOP_N = 200
LAMBDA_SCALE = 2000.0  # default_lambda = LAMBDA_SCALE × sqrt(density); see default_lambda
_LOW32 = np.int64(0xFFFFFFFF)
_ROW_CHUNK = 1024
_TOP_CHUNK = 256  # rows per top-N block: a few int64 copies of 256 × 20,000 stay near 150 MB


def _binary_csc(x: sp.spmatrix) -> sp.csc_matrix:
    m = sp.csc_matrix(x, dtype=np.float32, copy=True)
    m.sum_duplicates()
    m.data[:] = 1.0
    m.eliminate_zeros()
    return m


def _random_rank(n: int, seed: int) -> np.ndarray:
    """``rank[i]``: item i's place in a seeded random permutation of ``range(n)`` (the tie order)."""
    perm = np.random.default_rng(seed).permutation(n)
    rank = np.empty(n, dtype=np.int64)
    rank[perm] = np.arange(n, dtype=np.int64)
    return rank


def dense_items(x: sp.spmatrix, max_items: int = MAX_DENSE_ITEMS, seed: int = 0) -> np.ndarray:
    """Sorted catalogue positions EASE solves over: every interacted item, or, when there are more than
    ``max_items``, the ``max_items`` with the most distinct users (ties in a seeded random order)."""
    if max_items < 1:
        raise ConfigError(f"max_items must be >= 1, got {max_items}")
    counts = np.diff(_binary_csc(x).indptr)
    active = np.flatnonzero(counts > 0)
    if len(active) <= max_items:
        return active
    tie = _random_rank(x.shape[1], seed)[active]
    order = np.lexsort((tie, -counts[active]))
    return np.sort(active[order[:max_items]])


def gram_matrix(x: sp.spmatrix, items: np.ndarray, dtype: DTypeLike = np.float32) -> np.ndarray:
    """Dense XᵀX restricted to the columns ``items`` of the binary matrix x."""
    xi = sp.csc_matrix(x)[:, items]
    return np.asarray((xi.T @ xi).toarray(), dtype=dtype)


def _symmetrize_from_lower(a: np.ndarray, block: int = _ROW_CHUNK) -> None:
    """Copy the lower triangle onto the upper one in place, a block of rows at a time (no n² temporary)."""
    n = len(a)
    for start in range(0, n, block):
        stop = min(start + block, n)
        diag = a[start:stop, start:stop]
        diag[:] = np.tril(diag) + np.tril(diag, -1).T
        if stop < n:
            a[start:stop, stop:] = a[stop:, start:stop].T


def _spd_inverse_in_place(g: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite matrix via Cholesky (about 3× faster than LU), reusing g."""
    potrf, potri = (lapack.spotrf, lapack.spotri) if g.dtype == np.float32 else (lapack.dpotrf, lapack.dpotri)
    c, info = potrf(g, lower=True, overwrite_a=True, clean=False)
    if info != 0:
        raise RecsysError(f"EASE Gram matrix is not positive definite (LAPACK info={info}); raise lambda")
    inv, info = potri(c, lower=True, overwrite_c=True)
    if info != 0:
        raise RecsysError(f"EASE inversion failed (LAPACK info={info}); raise lambda")
    _symmetrize_from_lower(inv)
    return inv.T  # symmetric: the transpose is the same matrix, C-contiguous for fast sparse @ dense


def ease_dense(gram: np.ndarray, lam: float) -> np.ndarray:
    """Dense EASE weights B (same shape and dtype as ``gram``, zero diagonal); ``gram`` is not modified."""
    lam = float(lam)
    if not lam > 0:
        raise ConfigError(f"EASE lambda must be positive, got {lam}")
    g = np.array(gram, copy=True, order="F")  # Fortran order lets LAPACK work on it without another copy
    g[np.diag_indices_from(g)] += lam
    p = _spd_inverse_in_place(g)
    p /= -np.diag(p)[None, :]
    np.fill_diagonal(p, 0.0)
    return p


def default_lambda(x: sp.spmatrix) -> float:
    """``LAMBDA_SCALE × sqrt(density)``, density = interactions / (active users × interacted items).

    The rule was chosen to land near the λ that validation tuning picks on the two shared reference
    datasets, not derived from theory; both validation curves are flat near their best, so "near" is
    enough. Tuned λ (grid 10 … 1000) against the rule, on the train (tuning) and train + validation
    (refit) matrices:

    * amazon2018_gift_cards, last-day: tuned 250 (validation NDCG@10 .150 / .161 / .166 / .169 / .168
      / .168 at λ = 10 / 50 / 100 / 250 / 500 / 1000); density .025 / .031 → rule λ ≈ 320 / 350.
    * amazon2014_beauty_5core_seq, leave-one-out: tuned 50 (.0478 / .0519 / .0513 / .0496 / .0485
      / .0475 at λ = 10 / 50 / 100 / 250 / 500 / 1000); density .00057 / .00065 → rule λ ≈ 48 / 51.

    A rule proportional to the mean Gram diagonal (mean users per item: 9.6 on Gift Cards, 14.6 on
    Beauty) points the wrong way here: the small, popularity-driven catalogue wants the larger λ. Tune λ
    on validation data whenever there is any; this default is only a starting point.
    """
    m = _binary_csc(x)
    users = int((np.diff(sp.csr_matrix(m).indptr) > 0).sum())
    items = int((np.diff(m.indptr) > 0).sum())
    if users == 0 or items == 0:
        return LAMBDA_SCALE
    return float(LAMBDA_SCALE * math.sqrt(m.nnz / (users * items)))


def _ordered_int(values: np.ndarray) -> np.ndarray:
    """float32 → int64 with the same order (-0.0 == 0.0)."""
    v = values.astype(np.float32) + np.float32(0.0)
    bits = v.view(np.int32).astype(np.int64)
    return np.where(bits < 0, bits ^ np.int64(0x7FFFFFFF), bits)


def top_n_per_row(dense: np.ndarray, n: int, tie_rank: np.ndarray | None = None) -> sp.csr_matrix:
    """CSR keeping the ``n`` largest values of each row of ``dense``; zeros and -inf are dropped.

    Equal values are ranked by ``tie_rank`` (lower first; default: a seed-0 random order of the columns),
    never by column position.
    """
    if n < 1:
        raise ConfigError(f"top_n must be >= 1, got {n}")
    rows, cols = dense.shape
    tie = _random_rank(cols, 0) if tie_rank is None else np.asarray(tie_rank, dtype=np.int64)
    if tie.shape != (cols,):
        raise ConfigError(f"tie_rank has shape {tie.shape}, expected ({cols},)")
    tie_bits = (cols - 1 - tie) & _LOW32
    kk = min(n, cols)
    out_rows, out_cols = [], []
    for start in range(0, rows, _TOP_CHUNK):
        block = dense[start : start + _TOP_CHUNK]
        if kk < cols:
            keys = (_ordered_int(block) << 32) | tie_bits
            picked = np.argpartition(keys, cols - kk, axis=1)[:, cols - kk :]
        else:
            picked = np.broadcast_to(np.arange(cols), block.shape)
        vals = np.take_along_axis(block, picked, axis=1)
        keep = (vals != 0) & np.isfinite(vals)
        out_rows.append(np.nonzero(keep)[0] + start)
        out_cols.append(picked[keep])
    r = np.concatenate(out_rows) if out_rows else np.zeros(0, np.int64)
    c = np.concatenate(out_cols) if out_cols else np.zeros(0, np.int64)
    data = dense[r, c].astype(np.float32)
    return sp.csr_matrix((data, (r, c)), shape=(rows, cols), dtype=np.float32)


def ease_weights(
    x: sp.spmatrix,
    lam: float | None = None,
    top_n: int | None = DEFAULT_TOP_N,
    *,
    max_dense_items: int = MAX_DENSE_ITEMS,
    seed: int = 0,
) -> sp.csr_matrix:
    """Sparse EASE weights over the catalogue: CSR ``(n_items, n_items)``, float32, diagonal zero.

    ``x`` is the user × item interaction matrix (any non-zero counts as one interaction). ``lam`` defaults
    to ``default_lambda(x)``. Row i keeps the ``top_n`` largest weights from history item i (``None`` keeps
    every non-zero weight). Items never interacted with, and, above ``max_dense_items`` interacted items,
    all but the most popular ``max_dense_items``, have empty rows and columns (see the module docstring).
    ``seed`` fixes the order of ties (popularity at the cap, equal weights at the top-N cut).
    """
    n_items = x.shape[1]
    if lam is None:
        lam = default_lambda(x)
    binary = _binary_csc(x)
    items = dense_items(binary, max_dense_items, seed)
    if len(items) == 0:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    b = ease_dense(gram_matrix(binary, items), lam)
    b[np.diag_indices_from(b)] = -np.inf  # never a neighbour of itself
    tie = _random_rank(n_items, seed)[items]
    local = top_n_per_row(b, top_n if top_n is not None else len(items), tie)
    local = local.tocoo()
    return sp.csr_matrix(
        (local.data, (items[local.row], items[local.col])), shape=(n_items, n_items), dtype=np.float32
    )


def ease_scores(history: sp.spmatrix, b: sp.spmatrix | np.ndarray) -> np.ndarray:
    """Dense float32 scores ``history @ b`` for a batch of history rows (users × items)."""
    if history.shape[1] != b.shape[0]:
        raise ConfigError(f"history has {history.shape[1]} item columns but B has {b.shape[0]} rows")
    out = sp.csr_matrix(history, dtype=np.float32) @ b
    return np.asarray(out.toarray() if sp.issparse(out) else out, dtype=np.float32)
