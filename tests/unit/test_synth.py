from __future__ import annotations

import pandas as pd
import pytest

from recsys import make_dataset
from recsys.data import schema as S
from recsys.data.dataset import Dataset
from recsys.data.synth import SynthParams, synthesize

from ..conftest import tiny_frames


@pytest.fixture(scope="module")
def seed() -> Dataset:
    products, events = tiny_frames()
    return make_dataset(products, events)


def test_same_seed_same_data_other_seed_other_data(seed):
    a = synthesize(seed, SynthParams(300, 50, seed=1))
    b = synthesize(seed, SynthParams(300, 50, seed=1))
    c = synthesize(seed, SynthParams(300, 50, seed=2))
    pd.testing.assert_frame_equal(a.products, b.products)
    pd.testing.assert_frame_equal(a.events, b.events)
    assert not a.events[S.PRODUCT_ID].equals(c.events[S.PRODUCT_ID])


def test_output_is_canonical_and_sized(seed):
    ds = synthesize(seed, SynthParams(500, 80, events_per_user=4, seed=0))
    valid = make_dataset(ds.products, ds.events)  # raises DataValidationError on any schema problem
    assert len(valid.products) == 500 and ds.products[S.PRODUCT_ID].is_unique
    assert ds.events[S.USER_ID].nunique() == 80 and 80 <= len(ds.events) < 80 * 8
    searches = ds.events[ds.events[S.EVENT_TYPE] == "search"]
    assert searches[S.PRODUCT_ID].isna().all() and (searches[S.TEXT].str.strip() != "").all()
    rated = ds.events[S.RATING].notna()
    assert set(ds.events.loc[rated, S.EVENT_TYPE]) <= {"review", "rating"}
    assert ds.events[S.RATING].dropna().between(1, 5).all()
    per_user = ds.events.groupby(S.USER_ID)[S.TIMESTAMP].apply(lambda t: t.is_monotonic_increasing)
    assert per_user.all()


def test_texts_recombine_real_fields(seed):
    ds = synthesize(seed, SynthParams(400, 40, seed=3))
    seed_titles = seed.products[S.TITLE].tolist()
    seed_brands = set(seed.products[S.BRAND]) - {""}
    seed_reviews = set(seed.events[S.TEXT]) - {""}
    # Each title keeps a seed title's words (its brand may be swapped) plus a variant suffix.
    assert all(any(t.split()[-1] in title for t in seed_titles if t) for title in ds.products[S.TITLE])
    assert set(ds.products[S.BRAND]) - {""} <= seed_brands
    reviews = ds.events.loc[ds.events[S.EVENT_TYPE] == "review", S.TEXT]
    assert len(reviews) > 0 and set(reviews) <= seed_reviews
    assert set(ds.products[S.CATEGORY]) <= set(seed.products[S.CATEGORY])


def test_popularity_is_skewed(seed):
    ds = synthesize(seed, SynthParams(1000, 400, seed=0))
    counts = ds.events[S.PRODUCT_ID].value_counts()
    assert counts.iloc[:10].sum() > 10 * counts.median()


def test_bad_parameters_are_refused(seed):
    with pytest.raises(ValueError, match="n_products"):
        SynthParams(0, 10)
    with pytest.raises(ValueError, match="no products"):
        synthesize(Dataset(seed.products.iloc[:0], seed.events.iloc[:0], "empty"), SynthParams(5, 5))
