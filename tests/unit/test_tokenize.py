"""One tokenizer for Chinese and English: jieba words for Han runs, bm25s-identical English tokens."""

from __future__ import annotations

import logging

import bm25s
import pytest

from recsys.text.tokenize import tokenize, tokenize_many


@pytest.mark.parametrize("text", [
    "Great gift for my Mom! The card arrived fast.",
    "It's a $25 Amazon.com e-Gift card, 3x faster",
    "",
])
def test_english_matches_bm25s_tokens(text):
    expected = bm25s.tokenize([text], stopwords="en", return_ids=False, show_progress=False)[0]
    assert tokenize(text) == [t for t in expected if t]


def test_chinese_is_segmented_into_words_and_stopwords_dropped():
    assert tokenize("星巴克咖啡礼品卡") == ["星巴克", "咖啡", "礼品", "卡"]
    toks = tokenize("我们的咖啡")
    assert "咖啡" in toks and "我们" not in toks and "的" not in toks  # bm25s Chinese stopwords


def test_mixed_text_keeps_reading_order_and_lowercases_latin():
    assert tokenize("我喜欢Nike跑步鞋") == ["喜欢", "nike", "跑步", "鞋"]


def test_full_width_input_is_normalised_first():
    assert tokenize("ＮＩＫＥ　跑步鞋") == tokenize("nike 跑步鞋") == ["nike", "跑步", "鞋"]


def test_tokenize_many_and_no_jieba_chatter(caplog):
    with caplog.at_level(logging.DEBUG):
        out = tokenize_many(["咖啡豆", "coffee beans"])
    assert out == [["咖啡豆"], ["coffee", "beans"]] or out == [["咖啡", "豆"], ["coffee", "beans"]]
    assert not [r for r in caplog.records if r.name.startswith("jieba") and r.levelno < logging.WARNING]
