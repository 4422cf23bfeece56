"""Review sentiment in [-1, 1]: from the star rating when there is one, otherwise from the text.

Backends behind one `SentimentScorer` interface, chosen per text by `recsys.text.lang.primary_language`:
- rating: (stars − 3) / 2, so 1★ = −1, 3★ = 0, 5★ = +1;
- English text: VADER's compound score (a lexicon and rules; thresholds ±0.05 are its documented
  neutral band);
- Chinese text: SnowNLP's naive-Bayes positive probability p mapped to 2p − 1 (trained on product
  reviews; it reads Chinese only).
Measured on the 2,930 Gift Cards reviews with text and a 1–2★ or 4–5★ rating (benchmarks/bench_sentiment.py,
benchmarks/results/sentiment-gift-cards.json): VADER's accuracy is 0.981 (always-positive: 0.989) and its
balanced accuracy 0.706 [95% CI 0.63, 0.80]; it finds 42% of the 33 negative reviews, and its Spearman
rho with the stars is only 0.09 (4★ and 5★ texts read alike). So a rating, when present, always wins.
There is no rated Chinese data here; SnowNLP gets 15 of 16 hand-labelled reviews right (tests).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from recsys.data import schema as S
from recsys.text.lang import primary_language

__all__ = [
    "SentimentScorer",
    "VaderScorer",
    "SnowNLPScorer",
    "LanguageRoutedScorer",
    "rating_sentiment",
    "default_scorer",
    "score_events",
    "NEUTRAL_BAND",
    "SentimentSource",
]

#: |sentiment| below this is neutral (VADER's documented compound threshold).
NEUTRAL_BAND = 0.05
SentimentSource = Literal["rating", "text", "none"]


@runtime_checkable
class SentimentScorer(Protocol):
    name: str

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """One score in [-1, 1] per text (0.0 for an empty text)."""
        ...


def rating_sentiment(ratings: np.ndarray) -> np.ndarray:
    """(stars − 3) / 2 clipped to [-1, 1]; NaN where there is no rating."""
    r = np.asarray(ratings, dtype=float)
    return np.clip((r - 3.0) / 2.0, -1.0, 1.0)


@functools.cache
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


class VaderScorer:
    """English: VADER compound score."""

    name = "vader"

    def score(self, texts: Sequence[str]) -> np.ndarray:
        analyzer = _vader()
        return np.array([analyzer.polarity_scores(t)["compound"] if t.strip() else 0.0 for t in texts], np.float64)


class SnowNLPScorer:
    """Chinese: 2 × SnowNLP positive probability − 1."""

    name = "snownlp"

    def score(self, texts: Sequence[str]) -> np.ndarray:
        from snownlp import SnowNLP

        return np.array([2.0 * SnowNLP(t).sentiments - 1.0 if t.strip() else 0.0 for t in texts], np.float64)


class LanguageRoutedScorer:
    """Routes each text to the scorer of its primary language (Chinese vs everything else)."""

    def __init__(self, en: SentimentScorer | None = None, zh: SentimentScorer | None = None) -> None:
        self.en = en or VaderScorer()
        self.zh = zh or SnowNLPScorer()
        self.name = f"{self.en.name}+{self.zh.name}"

    def languages(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([primary_language(t) for t in texts], dtype=object)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros(len(texts), np.float64)
        if not len(texts):
            return out
        lang = self.languages(texts)
        for code, scorer in (("en", self.en), ("zh", self.zh)):
            idx = np.flatnonzero(lang == code)
            if len(idx):
                out[idx] = scorer.score([texts[i] for i in idx.tolist()])
        return out


@functools.cache
def default_scorer() -> LanguageRoutedScorer:
    """VADER for English, SnowNLP for Chinese (both stateless after loading; safe to share)."""
    return LanguageRoutedScorer()


def score_events(
    events: pd.DataFrame, scorer: SentimentScorer | None = None, *, types: Sequence[str] = ("review", "rating")
) -> pd.DataFrame:
    """Per events row: `sentiment` in [-1, 1] (NaN when none) and its `source` ("rating", "text", "none").

    Only rows whose event type is in `types` get a sentiment. A rating wins over text; texts are
    scored once per distinct text, and only for rows without a rating.
    """
    n = len(events)
    sentiment = np.full(n, np.nan)
    source = np.full(n, "none", dtype=object)
    if n == 0:
        return pd.DataFrame({"sentiment": sentiment, "source": source}, index=events.index)
    eligible = events[S.EVENT_TYPE].isin(list(types)).to_numpy()
    ratings = events[S.RATING].to_numpy(dtype=float)
    rated = eligible & ~np.isnan(ratings)
    sentiment[rated] = rating_sentiment(ratings[rated])
    source[rated] = "rating"
    text = events[S.TEXT].fillna("").astype(str).str.strip().to_numpy(dtype=object)
    need = eligible & ~rated & (text != "")
    if need.any():
        uniq, inverse = np.unique(text[need].astype(str), return_inverse=True)
        scores = (scorer or default_scorer()).score(uniq.tolist())
        sentiment[need] = scores[inverse]
        source[need] = "text"
    return pd.DataFrame({"sentiment": sentiment, "source": source}, index=events.index)
