"""Packed per-item values read exactly like the lists they replace, and the catalogue terms built from
them count what a plain count over the items gives."""

from __future__ import annotations

from collections import Counter

import pytest

from recsys.explain.packed import Coded, PackedSets
from recsys.explain.portraits import CatalogueTerms, _label_terms, category_levels


def test_coded_values_and_slices():
    values = [("a", "b"), (), ("a", "b"), ("c",)]
    coded = Coded(values)
    assert list(coded) == values and len(coded) == 4 and coded[-1] == ("c",) and coded[1:3] == values[1:3]
    assert coded.distinct == [("a", "b"), (), ("c",)] and coded.codes.tolist() == [0, 1, 0, 2]
    assert not Coded([]) and Coded(["x"])


def test_packed_sets_values_counts_and_bounds():
    sets = [{"gift", "card"}, set(), {"card"}, {"coffee", "gift"}]
    packed = PackedSets(sets)
    assert [set(s) for s in packed] == sets and packed[-1] == frozenset({"coffee", "gift"})
    assert packed.counts() == {"gift": 2, "card": 2, "coffee": 1}
    assert packed[1:3] == [frozenset(), frozenset({"card"})]
    with pytest.raises(IndexError):
        packed[4]


def test_catalogue_terms_match_a_plain_count():
    texts = ["Starbucks gift card · Coffee", "Amazon.com gift card", "Trail shoes · Running · Acme", ""]
    cats = ["Gift Cards > Restaurants", "Gift Cards", "Sports > Running > Shoes", None]
    brands = [" Starbucks ", "Amazon", "Acme", float("nan")]
    terms = CatalogueTerms.from_texts(texts, cats, brands)
    plain = [frozenset(_label_terms(t)) for t in texts]
    assert list(terms.item_terms) == plain
    assert terms.df == dict(Counter(t for s in plain for t in s))
    levels = [category_levels(c) for c in cats]
    assert list(terms.item_categories) == levels
    assert terms.category_df == dict(Counter(lv[:d] for lv in levels for d in range(1, len(lv) + 1)))
    assert list(terms.item_brands) == ["Starbucks", "Amazon", "Acme", ""]
    assert terms.n_docs == 4 and terms.idf("gift") < terms.idf("coffee")
