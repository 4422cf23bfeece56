from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.encoders import HashingEncoder, make_encoder
from recsys.errors import EncoderError
from recsys.text.builders import clean_text, product_texts, text_hash


def test_clean_text_strips_html_debris():
    assert clean_text("<p>Great&amp;cheap</p>\\n<br/>card&nbsp;here") == "Great&cheap card here"
    assert clean_text(None) == "" and clean_text(float("nan")) == ""
    assert clean_text(["a", "b"]) == "a b"
    assert clean_text("ＡＢＣ１２３") == "ABC123"  # full-width folded by NFKC


def test_product_text_joins_fields_and_caps_description():
    df = pd.DataFrame({"title": ["Mug", ""], "description": ["word " * 1000, ""],
                       "category": ["A > B > C > D", ""], "brand": ["Acme", ""]})
    texts = product_texts(df, max_description_chars=100)
    assert texts[0].startswith("Mug. B > C > D. Acme. word")
    assert len(texts[0]) < 140
    assert texts[1] == ""


def test_text_hash_is_stable():
    assert text_hash("abc") == text_hash("abc") != text_hash("abd")
    assert len(text_hash("x")) == 16


def test_hashing_encoder_contract():
    enc = HashingEncoder(dim=64)
    v = enc.encode(["red shoes", "blue car", "red shoes", ""])
    assert v.shape == (4, 64) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-6)
    assert np.allclose(v[0], v[2])  # duplicates map to the same vector, order preserved
    assert float(v[0] @ enc.encode(["red shoes shiny"])[0]) > float(v[0] @ v[1])
    assert enc.encode([]).shape == (0, 64)


def test_encode_rejects_a_bare_string():
    with pytest.raises(EncoderError, match="sequence"):
        HashingEncoder().encode("not a list")


def test_make_encoder_unknown_name():
    with pytest.raises(EncoderError, match="unknown encoder"):
        make_encoder("no-such-model")
    assert make_encoder("hashing-32").dim == 32
