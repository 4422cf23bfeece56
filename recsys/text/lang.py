"""Chinese/English text normalisation and per-text language detection.

Normalisation is Unicode NFKC, which folds full-width Latin letters, digits and punctuation to their
half-width forms ("ＡＢＣ１２３，" → "ABC123,") and composes accents, followed by whitespace collapsing.
Han characters are left alone (NFKC does not convert traditional to simplified).

Detection is a script-ratio count, not a statistical language identifier: it counts Han characters
(CJK Unified Ideographs, extensions A and B, compatibility ideographs) and Latin letters. A Han
character carries about as much meaning as a short English word, so each Latin letter counts
`LATIN_LETTER_WEIGHT` (0.5) of a Han character. With h = Han share of the weighted count:
- h ≥ 0.8 → "zh", h ≤ 0.2 → "en", in between → "mixed", no letters at all → "unknown".
It only separates Chinese from English (any Latin-script language reads as "en"; Japanese kana and
Korean hangul are not counted), which is what a zh/en catalogue needs, and it is exact and cheap.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Lang",
    "ScriptCounts",
    "normalize",
    "script_counts",
    "detect_language",
    "primary_language",
    "dominant_language",
    "HAN_CLASS",
    "LATIN_LETTER_WEIGHT",
]

Lang = Literal["zh", "en", "mixed", "unknown"]

#: Han ideograph ranges as a regex character class body (shared with the tokenizer).
HAN_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002a6df"
_HAN = re.compile(f"[{HAN_CLASS}]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_WS = re.compile(r"\s+")

LATIN_LETTER_WEIGHT = 0.5
ZH_AT_LEAST = 0.8
EN_AT_MOST = 0.2


def normalize(text: str) -> str:
    """NFKC (full-width → half-width, composed accents), then whitespace collapsed and stripped."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text)).strip()


@dataclass(frozen=True)
class ScriptCounts:
    han: int
    latin: int

    @property
    def han_share(self) -> float:
        """Han share of the weighted letter count; NaN-free: 0.0 when there are no letters."""
        weighted = self.han + LATIN_LETTER_WEIGHT * self.latin
        return self.han / weighted if weighted > 0 else 0.0


def script_counts(text: str) -> ScriptCounts:
    s = unicodedata.normalize("NFKC", text)
    return ScriptCounts(han=len(_HAN.findall(s)), latin=len(_LATIN.findall(s)))


def detect_language(text: str) -> Lang:
    """"zh", "en", "mixed" or "unknown" (no Han or Latin letters), by the script ratio above."""
    c = script_counts(text)
    if c.han == 0 and c.latin == 0:
        return "unknown"
    h = c.han_share
    if h >= ZH_AT_LEAST:
        return "zh"
    if h <= EN_AT_MOST:
        return "en"
    return "mixed"


def primary_language(text: str) -> Literal["zh", "en"]:
    """The one language a single-language tool (a sentiment model) should read the text as: "zh" when
    Han characters make at least half the weighted count, else "en" (also for text without letters)."""
    return "zh" if script_counts(text).han_share >= 0.5 else "en"


def dominant_language(texts: Iterable[str], default: Literal["zh", "en"] = "en") -> Literal["zh", "en"]:
    """The language of a set of texts (a user's reviews and titles): the primary language of most
    texts that have letters; `default` when none has any or on a tie."""
    votes = Counter(primary_language(t) for t in texts if detect_language(t) != "unknown")
    if not votes or votes["zh"] == votes["en"]:
        return default
    return "zh" if votes["zh"] > votes["en"] else "en"
