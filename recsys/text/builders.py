"""Text builders: product text from catalogue fields, cleaned of HTML debris and capped in length."""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from collections.abc import Iterable

import pandas as pd

from recsys.data import schema as S

__all__ = ["clean_text", "product_texts", "text_hash", "MAX_DESCRIPTION_CHARS"]

# MiniLM truncates at 256 word pieces (~1,000 characters of English); longer descriptions only cost time.
MAX_DESCRIPTION_CHARS = 1000

_TAG = re.compile(r"<[^>]{0,500}>")
_WS = re.compile(r"\s+")
_JUNK = re.compile(r"(&nbsp;?|\\[nrt]|\u00a0)")


def clean_text(value: object) -> str:
    """Unescape entities, drop tags and stray escapes, NFKC-normalise, collapse whitespace."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, (list, tuple)):
        value = " ".join(str(v) for v in value)
    text = html.unescape(str(value))
    text = _TAG.sub(" ", text)
    text = _JUNK.sub(" ", text)
    text = unicodedata.normalize("NFKC", text)
    return _WS.sub(" ", text).strip()


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > limit // 2 else limit]


def product_texts(products: pd.DataFrame, max_description_chars: int = MAX_DESCRIPTION_CHARS) -> list[str]:
    """One passage per product: "title. category. brand. description" with empty parts skipped.

    The category path keeps only its most specific three levels; a product with no text at all gets
    an empty string (it still receives a vector, identical for all such products).
    """
    out: list[str] = []
    for title, desc, cat, brand in zip(
        products[S.TITLE], products[S.DESCRIPTION], products[S.CATEGORY], products[S.BRAND], strict=True
    ):
        cat_s = clean_text(cat)
        if " > " in cat_s:
            cat_s = " > ".join(cat_s.split(" > ")[-3:])
        parts = [clean_text(title), cat_s, clean_text(brand), _cap(clean_text(desc), max_description_chars)]
        out.append(". ".join(p for p in parts if p))
    return out


def text_hash(text: str) -> str:
    """Stable content hash of one text (16 hex chars), used to skip re-encoding unchanged texts."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def text_hashes(texts: Iterable[str]) -> list[str]:
    return [text_hash(t) for t in texts]
