"""The fitted-on view of one split: the catalogue, the users, and their binary train interactions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data import schema as S
from recsys.errors import DataValidationError, Problem, UnknownUserError

__all__ = ["EvalData", "build_eval_data", "tie_ranks"]


@dataclass(frozen=True)
class EvalData:
    """Everything a scorer may look at while fitting.

    ``item_ids[i]`` is the product at row ``i`` of ``products`` (the whole catalogue, including products
    nobody interacted with); ``matrix[u, i] == 1`` when user ``user_ids[u]`` interacted with item ``i`` in
    ``train_events``. ``tie_rank[i]`` is item ``i``'s place in a seeded random order of the catalogue, used to
    break score ties (product ids would favour variant copies, which sit next to each other).
    """

    products: pd.DataFrame
    item_ids: np.ndarray
    user_ids: np.ndarray
    matrix: sp.csr_matrix
    train_events: pd.DataFrame
    as_of: pd.Timestamp | None
    tie_rank: np.ndarray
    seed: int

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    def user_rows(self, users: Sequence[object] | np.ndarray) -> np.ndarray:
        """Row positions of ``users`` in ``matrix``; raises UnknownUserError naming the missing ones."""
        index = pd.Index(self.user_ids)
        rows = index.get_indexer(pd.Index(np.asarray(users, dtype=object)))
        if (rows < 0).any():
            missing = np.asarray(users, dtype=object)[rows < 0][:5].tolist()
            raise UnknownUserError(
                f"{int((rows < 0).sum())} user(s) are not rows of this EvalData, e.g. {missing}; "
                "pass them in `users` when calling build_eval_data"
            )
        return rows.astype(np.int64)

    def item_positions(self, product_ids: Sequence[object] | np.ndarray) -> np.ndarray:
        """Catalogue positions of ``product_ids`` (-1 for ids not in the catalogue)."""
        return pd.Index(self.item_ids).get_indexer(pd.Index(np.asarray(product_ids, dtype=object)))


def tie_ranks(n_items: int, seed: int) -> np.ndarray:
    """``rank[i]``: item i's position in a seeded random permutation of ``range(n_items)``."""
    perm = np.random.default_rng(seed).permutation(n_items)
    rank = np.empty(n_items, dtype=np.int64)
    rank[perm] = np.arange(n_items, dtype=np.int64)
    return rank


def build_eval_data(
    products: pd.DataFrame,
    train_events: pd.DataFrame,
    users: Sequence[object] | np.ndarray | None = None,
    seed: int = 0,
) -> EvalData:
    """Index the catalogue and the train interactions.

    Rows are ``users`` in the given order followed by any other user with train events (sorted), so that
    collaborative scorers learn from every train user while callers address the ones they evaluate.
    Events without a product (searches) stay in ``train_events`` as history text but not in ``matrix``.
    """
    if S.PRODUCT_ID not in products.columns:
        raise DataValidationError([Problem("products", S.PRODUCT_ID, "column is missing")])
    item_ids = products[S.PRODUCT_ID].to_numpy(dtype=object)
    item_index = pd.Index(item_ids)
    if not item_index.is_unique:
        dup = item_index[item_index.duplicated()][:3].tolist()
        raise DataValidationError([Problem("products", S.PRODUCT_ID, "product ids must be unique", str(dup))])

    given = [] if users is None else list(dict.fromkeys(np.asarray(users, dtype=object).tolist()))
    others = np.sort(train_events[S.USER_ID].dropna().unique().astype(object))
    given_set = set(given)
    extra = [u for u in others.tolist() if u not in given_set]
    user_ids = np.asarray(given + extra, dtype=object)

    inter = train_events[train_events[S.PRODUCT_ID].notna()]
    cols = item_index.get_indexer(pd.Index(inter[S.PRODUCT_ID].to_numpy(dtype=object)))
    if (cols < 0).any():
        bad = inter[S.PRODUCT_ID].to_numpy(dtype=object)[cols < 0]
        message = f"{len(bad)} event(s) name products missing from the catalogue"
        raise DataValidationError([Problem("events", S.PRODUCT_ID, message, str(bad[0]))])
    rows = pd.Index(user_ids).get_indexer(pd.Index(inter[S.USER_ID].to_numpy(dtype=object)))
    data = np.ones(len(rows), dtype=np.float32)
    matrix = sp.csr_matrix((data, (rows, cols)), shape=(len(user_ids), len(item_ids)), dtype=np.float32)
    matrix.sum_duplicates()
    matrix.data[:] = 1.0  # binary: repeated interactions count once
    as_of = train_events[S.TIMESTAMP].max() if len(train_events) else None
    return EvalData(
        products=products,
        item_ids=item_ids,
        user_ids=user_ids,
        matrix=matrix,
        train_events=train_events,
        as_of=as_of,
        tie_rank=tie_ranks(len(item_ids), seed),
        seed=seed,
    )
