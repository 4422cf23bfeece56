"""The catalogue as a server holds it without a Python object per product: `HashedIdMap` answers exactly as
`IdMap`, string columns keep their values, category codes equal the per-item computation, and the item
vectors load without their keys."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import recsys.features.hashed_ids as H
from recsys.artifacts import FILES, load_artifacts
from recsys.features import items as I
from recsys.features.hashed_ids import STRING, HashedIdMap, strings
from recsys.features.ids import IdMap
from recsys.index.vectors import VectorTable

IDS = [f"p{i}" for i in range(300)] + ["1", "", "日本", "x" * 40]
PROBES = ["p0", "p299", "p300", "1", 1, "", "日本", "x" * 40, "x" * 39, None, np.nan, "P0", "p0 "]


def test_lookups_answer_as_the_pandas_id_map_does():
    plain, hashed = IdMap.of(IDS), HashedIdMap.of(IDS)
    assert len(hashed) == len(plain) and hashed.ids.dtype == STRING
    assert [str(hashed.ids[i]) for i in range(len(IDS))] == IDS
    np.testing.assert_array_equal(hashed.rows(PROBES), plain.rows(PROBES))
    np.testing.assert_array_equal(hashed.rows(pd.Series(PROBES, dtype=object)), plain.rows(PROBES))
    assert hashed.rows([]).dtype == np.int64 and len(hashed.rows([])) == 0
    for key in PROBES:
        assert hashed.row(key) == plain.row(key)
        assert (key in hashed) == (key in plain)


def test_colliding_hashes_still_find_the_right_rows(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(H, "_hash", lambda key: hash(key) % 4)  # four hash values for 304 ids
    plain, hashed = IdMap.of(IDS), HashedIdMap.of(IDS)
    np.testing.assert_array_equal(hashed.rows(PROBES), plain.rows(PROBES))
    np.testing.assert_array_equal(hashed.rows(IDS), np.arange(len(IDS)))


@pytest.mark.parametrize("collide", [False, True])
def test_repeated_ids_are_refused_like_the_pandas_map(monkeypatch: pytest.MonkeyPatch, collide: bool):
    if collide:
        monkeypatch.setattr(H, "_hash", lambda key: 0)
    with pytest.raises(ValueError, match="unique ids; repeated: .*'p7'"):
        HashedIdMap.of([*IDS, "p7"])
    with pytest.raises(ValueError, match="unique ids"):
        IdMap.of([*IDS, "p7"])


def test_string_columns_keep_their_values_and_missing_ones():
    column = pd.Series(["a", None, "long " * 20, "", "中文"] * 30_000, dtype="str")  # > one conversion chunk
    packed = strings(column)
    want = column.to_numpy(dtype=object)
    assert packed.dtype == STRING and len(packed) == len(want)
    for i in (0, 1, 2, 3, 4, 149_999):
        assert str(packed[i]) == str(want[i])
    assert pd.isna(packed[1]) and not pd.isna(packed[0])


def test_category_codes_computed_per_distinct_path_equal_the_per_item_ones():
    paths = np.array(["", " A > b > c", "A > b > c", None, "X", "X > y", "  ", "Q > r > s"], dtype=object)
    column = pd.Series(paths[np.random.default_rng(0).integers(0, len(paths), 5000)], dtype="str")
    at, distinct = I._per_distinct(column)
    per_item = column.fillna("").astype(str)
    cats = distinct.fillna("").astype(str)
    np.testing.assert_array_equal(I._codes_of(cats, at), I._codes(per_item))
    assert I._codes_of(cats, at).dtype == I._codes(per_item).dtype == np.int32  # compared only: int32 holds them
    reference = pd.factorize(per_item.str.strip())[0]  # the int64 computation before codes were int32
    np.testing.assert_array_equal(I._codes(per_item), np.where(per_item.str.strip().to_numpy() == "", -1, reference))
    top_of = cats.str.split(" > ").str[:2].str.join(" > ")
    np.testing.assert_array_equal(I._codes_of(top_of, at), I._codes(per_item.str.split(" > ").str[:2].str.join(" > ")))
    shared = distinct.to_numpy(dtype=object)[at]
    original = column.to_numpy(dtype=object)
    assert all(a == b or (pd.isna(a) and pd.isna(b)) for a, b in zip(shared, original, strict=True))


def test_the_loaded_catalogue_answers_as_before(tiny_index: Path):
    art = load_artifacts(tiny_index, mmap=True)
    products = pd.read_parquet(art.root / FILES["products"])
    ids = products["product_id"].tolist()
    assert isinstance(art.items, HashedIdMap)
    assert [art.product_position(p) for p in ids] == list(range(len(ids)))
    assert art.product_position("no-such-product") is None
    assert [str(t) for t in art.titles] == products["title"].astype(str).tolist()
    assert list(art.features.category) == products["category"].tolist()
    table = VectorTable.load(art.root / FILES["item_vectors"], mmap=True)
    np.testing.assert_array_equal(VectorTable.load_vectors(art.root / FILES["item_vectors"], mmap=True),
                                  table.vectors)


def test_a_served_version_reads_its_catalogue_frame_on_demand(tiny_index: Path):
    """Loaded for serving, a version holds no catalogue frame; what reads one gets the held frame's values."""
    from recsys.campaigns.campaign import Campaign
    from recsys.campaigns.vectors import campaign_copy
    from recsys.data import schema as S
    from recsys.explain.portraits import TERM_COLUMNS, version_terms

    held, served = load_artifacts(tiny_index), load_artifacts(tiny_index, mmap=True)
    assert held.held_products is not None and served.held_products is None
    pd.testing.assert_frame_equal(served.products, held.products)
    pd.testing.assert_frame_equal(served.product_columns(TERM_COLUMNS), held.product_columns(TERM_COLUMNS))
    for at in ([3, 0, len(held.items) - 1], [], [2, 2]):
        pd.testing.assert_frame_equal(served.product_rows(np.array(at)), held.products.iloc[at])
    a, b = version_terms(served), version_terms(held)
    assert (a.n_docs, a.df, a.category_df) == (b.n_docs, b.df, b.category_df)
    for name in ("item_terms", "item_categories", "item_brands"):
        assert list(getattr(a, name)) == list(getattr(b, name))
    assert [str(t) for t in served.titles] == held.products[S.TITLE].astype(str).tolist()
    c = Campaign("c", "cpc", 1.0, headline="h", body="b", landing_product_ids=(str(held.items.ids[1]),))
    for at in (np.array([1, 4]), np.array([], np.int64)):
        assert campaign_copy(c, at, served) == campaign_copy(c, at, held)
