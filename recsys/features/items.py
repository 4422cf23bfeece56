"""`ItemFeatures`: every per-item array the rankers read, computed by one function from one time slice.

The build computes it from the version's events and stores it; evaluation computes it from train events;
the learned ranker's training computes it from the input part of an earlier slice; serving loads the
stored one and overlays live counters (`with_signals`). All of them call `item_features`, so what is
measured, trained and served is the same computation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data import schema as S
from recsys.features.ease import ease_weights
from recsys.features.events import EventFeatures, interaction_mask
from recsys.features.sequences import first_seen_age, ordered_histories, transitions
from recsys.features.signals import ItemSignals, SignalParams, compute_signals, cooccurrence
from recsys.index.decoded import DecodedVectors

__all__ = ["ItemFeatures", "item_features", "popular_order", "tiebreak_ranks", "FEATURE_FILES"]

#: Files of an index version that hold the stored item features (beside the item vectors).
FEATURE_FILES = {"signals": "signals.parquet", "cooc": "cooc.npz", "trans": "trans.npz", "ease": "ease.npz"}
AGE = "age_days"


def tiebreak_ranks(n: int, seed: int = 0) -> np.ndarray:
    """A seeded random rank per catalogue row: equal scores are ordered by it, never by id or row."""
    return np.random.default_rng(seed).permutation(n).astype(np.int64)


def popular_order(popularity: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """Rows by descending popularity; equal popularity in tie-break order."""
    return np.lexsort((tiebreak, -np.asarray(popularity))).astype(np.int64)


#: Category and brand codes are only compared with each other (filters, match features): int32 holds
#: any catalogue's count of distinct values at half the memory of int64 (4 MB per array at 1M items).
CODE = np.int32


def _codes(values: pd.Series) -> np.ndarray:
    clean = values.fillna("").astype(str).str.strip()
    codes = pd.factorize(clean)[0].astype(CODE)
    return np.where(clean.to_numpy() == "", CODE(-1), codes)


def _codes_of(distinct: pd.Series, at: np.ndarray) -> np.ndarray:
    """`_codes` of the column whose item i holds `distinct[at[i]]`, computed on the distinct values: the
    same codes (first appearance over the items, −1 when empty)."""
    clean = distinct.fillna("").astype(str).str.strip()
    out = pd.factorize(pd.factorize(clean)[0][at])[0].astype(CODE)
    out[(clean.to_numpy() == "")[at]] = -1
    return out


def _per_distinct(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """`values` as codes into their distinct values (missing: the last entry, NaN): a catalogue repeats a
    few hundred category paths a million times, so per-value work is done once per distinct value."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    table = pd.Series(np.append(np.asarray(uniques, dtype=object), np.nan), dtype=object)
    return np.where(codes < 0, len(table) - 1, codes), table


@dataclass(frozen=True)
class ItemFeatures:
    """Per-item arrays in catalogue order."""

    vectors: np.ndarray  # n × d, unit length (serving: maybe a `DecodedVectors` view, see recsys.index.loader)
    signals: ItemSignals
    cooc: sp.csr_matrix  # item–item co-occurrence cosine (top neighbours per row)
    trans: sp.csr_matrix  # directed transitions: how often j follows i within a few steps
    ease: sp.csr_matrix  # EASE item–item weights, top neighbours per history item (`recsys.features.ease`)
    category: np.ndarray  # raw category path strings (filters)
    price: np.ndarray  # float, NaN when unknown
    category_code: np.ndarray  # int32 codes of the full category path, −1 when empty
    top_category_code: np.ndarray  # int32 codes of the first two category levels
    brand_code: np.ndarray  # int32 codes, −1 when empty
    log_price: np.ndarray  # log1p(price), NaN when unknown
    age_days: np.ndarray  # days between the item's first event and as_of, NaN when never seen
    tiebreak: np.ndarray  # seeded random rank per item (see `tiebreak_ranks`)
    popular: np.ndarray  # rows by descending popularity

    @property
    def n_items(self) -> int:
        return len(self.vectors)

    @classmethod
    def assemble(cls, products: pd.DataFrame, vectors: np.ndarray, signals: ItemSignals, cooc: sp.spmatrix,
                 trans: sp.spmatrix, age_days: np.ndarray, *, ease: sp.spmatrix | None = None,
                 seed: int = 0) -> ItemFeatures:
        """`ease` None means no EASE neighbours (an empty matrix: the EASE feature and source are zero)."""
        n = len(products)
        at, distinct = _per_distinct(products[S.CATEGORY])
        cats = distinct.fillna("").astype(str)
        top = cats.str.split(" > ").str[:2].str.join(" > ")
        price = products[S.PRICE].to_numpy(dtype=float)
        tb = tiebreak_ranks(n, seed)
        return cls(
            # A float32 C-order array is kept as it is, not copied: a served version's read-only mapping
            # of its vector matrix stays shared between processes; so is a view that decodes the rows
            # it is asked for from the index's codes (converting it would decode the whole catalogue).
            vectors=vectors if isinstance(vectors, DecodedVectors) else np.ascontiguousarray(vectors, np.float32),
            signals=signals,
            cooc=sp.csr_matrix(cooc, dtype=np.float32),
            trans=sp.csr_matrix(trans, dtype=np.float32),
            ease=sp.csr_matrix((n, n), dtype=np.float32) if ease is None else sp.csr_matrix(ease, dtype=np.float32),
            # one str object per distinct path, shared by its items (same values as the column's)
            category=distinct.to_numpy(dtype=object)[at],
            price=price,
            category_code=_codes_of(cats, at),
            top_category_code=_codes_of(top, at),
            brand_code=_codes(products[S.BRAND]) if S.BRAND in products.columns else np.full(n, -1, CODE),
            log_price=np.log1p(np.where(price >= 0, price, np.nan)),
            age_days=np.asarray(age_days, dtype=float),
            tiebreak=tb,
            popular=popular_order(signals.popularity, tb),
        )

    def with_signals(self, signals: ItemSignals, popular: np.ndarray | None = None) -> ItemFeatures:
        """The same features with other signal values (live counters); `popular` defaults to theirs."""
        return replace(self, signals=signals,
                       popular=popular if popular is not None else popular_order(signals.popularity, self.tiebreak))

    # -- storage in an index version ------------------------------------------------------------
    def save(self, folder: Path, product_ids: np.ndarray) -> None:
        self.signals.frame(product_ids).assign(**{AGE: self.age_days}).to_parquet(
            folder / FEATURE_FILES["signals"], index=False)
        sp.save_npz(folder / FEATURE_FILES["cooc"], self.cooc)
        sp.save_npz(folder / FEATURE_FILES["trans"], self.trans)
        sp.save_npz(folder / FEATURE_FILES["ease"], self.ease)

    @classmethod
    def load(cls, folder: Path, products: pd.DataFrame, vectors: np.ndarray, *, seed: int = 0) -> ItemFeatures:
        frame = pd.read_parquet(folder / FEATURE_FILES["signals"])
        return cls.assemble(products, vectors, ItemSignals.from_frame(frame),
                            sp.load_npz(folder / FEATURE_FILES["cooc"]).tocsr(),
                            sp.load_npz(folder / FEATURE_FILES["trans"]).tocsr(),
                            frame[AGE].to_numpy(dtype=float), ease=sp.load_npz(folder / FEATURE_FILES["ease"]),
                            seed=seed)


def item_features(
    products: pd.DataFrame, events: pd.DataFrame, ev: EventFeatures, vectors: np.ndarray, as_of: pd.Timestamp,
    params: SignalParams = SignalParams(), *, seed: int = 0,
) -> ItemFeatures:
    """Signals, co-occurrence, transitions and attributes from `events` (rows aligned with `ev`)."""
    n = len(products)
    pos = ev.item_pos
    inter = interaction_mask(events, pos, params.event_weights)
    cooc = cooccurrence(events[S.USER_ID].to_numpy()[inter], pos[inter], n, params.cooc_neighbours)
    sig = compute_signals(events, pos, n, as_of, params, sentiment=ev.sentiment)
    users = pd.unique(events[S.USER_ID].to_numpy(dtype=object))
    trans = transitions(ordered_histories(events, pos, users), n)
    return ItemFeatures.assemble(products, vectors, sig, cooc, trans, first_seen_age(events, pos, n, as_of),
                                 ease=ease_weights(interaction_matrix(events, pos, inter, n), seed=seed), seed=seed)


def interaction_matrix(events: pd.DataFrame, item_pos: np.ndarray, mask: np.ndarray, n_items: int) -> sp.csr_matrix:
    """Binary user × item matrix of the `mask` rows (users in order of first appearance)."""
    users = pd.factorize(events[S.USER_ID].to_numpy(dtype=object)[mask])[0]
    x = sp.csr_matrix((np.ones(len(users), np.float32), (users, item_pos[mask])),
                      shape=(int(users.max()) + 1 if len(users) else 0, n_items), dtype=np.float32)
    x.sum_duplicates()
    x.data[:] = 1.0
    return x
