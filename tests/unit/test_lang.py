"""Normalisation and zh/en detection: known answers on hand-picked strings."""

from __future__ import annotations

import pytest

from recsys.text.lang import detect_language, dominant_language, normalize, primary_language, script_counts


def test_nfkc_folds_full_width_to_half_width():
    assert normalize("ＡＢＣ　１２３，ｈｅｌｌｏ！") == "ABC 123,hello!"
    assert normalize("  咖啡\u3000礼品卡  ") == "咖啡 礼品卡"  # ideographic space collapsed, Han kept


@pytest.mark.parametrize(("text", "lang"), [
    ("Great gift for my mom", "en"),
    ("星巴克咖啡礼品卡，送朋友很合适", "zh"),
    ("我喜欢Nike跑步鞋", "mixed"),  # Han share 6 / (6 + 0.5 × 4) = 0.75, below the 0.8 of "zh"
    ("iPhone 手机壳", "mixed"),
    ("12345 !!!", "unknown"),
    ("", "unknown"),
    ("Ｎｉｋｅ", "en"),  # full-width Latin counts as Latin after NFKC
])
def test_detect_language(text, lang):
    assert detect_language(text) == lang


def test_primary_language_splits_mixed_text_at_half():
    assert primary_language("我喜欢Nike跑步鞋") == "zh"
    assert primary_language("iPhone 手机壳") == "zh"  # 3 / (3 + 0.5 × 6) = 0.5: a tie reads as zh
    assert primary_language("Nike shoes 鞋") == "en"  # 1 / (1 + 0.5 × 9)


def test_script_counts_and_share():
    c = script_counts("咖啡 coffee")
    assert (c.han, c.latin) == (2, 6)
    assert c.han_share == pytest.approx(2 / (2 + 3))
    assert script_counts("...").han_share == 0.0


def test_dominant_language_votes_over_texts():
    assert dominant_language(["很好用", "质量不错", "great"]) == "zh"
    assert dominant_language(["great", "fast shipping", "很好"]) == "en"
    assert dominant_language(["123"], default="zh") == "zh"  # no letters: the default
    assert dominant_language(["好", "good"]) == "en"  # a tie: the default


def test_public_names_exist():
    import recsys.explain.portraits
    import recsys.text.lang
    import recsys.text.sentiment
    import recsys.text.tokenize

    for mod in (recsys.text.lang, recsys.text.tokenize, recsys.text.sentiment, recsys.explain.portraits):
        assert all(hasattr(mod, name) for name in mod.__all__), mod.__name__
