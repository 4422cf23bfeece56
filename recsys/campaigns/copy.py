"""Ad copy from landing products: a short readable headline and body when a campaign has none.

Extractive and templated, no model and no network: the headline is the first landing product's title
(cut at a word boundary), with "+ N more" when several products land; the body is the leading
sentence(s) of its description, then brand and a "from $price" tail. Pure functions over strings.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from recsys.text.builders import clean_text

__all__ = ["AdCopy", "LandingProduct", "make_copy", "HEADLINE_CHARS", "BODY_CHARS"]

HEADLINE_CHARS = 60
BODY_CHARS = 140
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s*")


@dataclass(frozen=True)
class LandingProduct:
    title: str
    description: str = ""
    brand: str = ""
    category: str = ""
    price: float | None = None


@dataclass(frozen=True)
class AdCopy:
    headline: str
    body: str
    generated: bool  # True when built from landing products, False when the campaign supplied it


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    space = text.rfind(" ", 0, limit - 1)
    cut = text[: space if space > limit // 2 else limit - 1].rstrip(" ,;:-–")
    return cut + "…"


def _lead(description: str, limit: int) -> str:
    out = ""
    for sentence in _SENTENCE.split(description):
        sentence = sentence.strip()
        if not sentence:
            continue
        if out and len(out) + 1 + len(sentence) > limit:
            break
        out = f"{out} {sentence}".strip()
        if len(out) >= limit:
            break
    return _cut(out, limit)


def make_copy(headline: str, body: str, landing: list[LandingProduct]) -> AdCopy:
    """The campaign's own copy when it has some; otherwise copy extracted from the landing products."""
    headline, body = clean_text(headline), clean_text(body)
    if headline and body:
        return AdCopy(_cut(headline, HEADLINE_CHARS * 2), _cut(body, BODY_CHARS * 2), False)
    if not landing:
        return AdCopy(headline, body, False)
    first = landing[0]
    title = clean_text(first.title) or clean_text(first.category).split(" > ")[-1] or "Featured product"
    made_headline = _cut(title, HEADLINE_CHARS - (10 if len(landing) > 1 else 0))
    if len(landing) > 1:
        made_headline = f"{made_headline} + {len(landing) - 1} more"
    tail = []
    brand = clean_text(first.brand)
    if brand and brand.lower() not in made_headline.lower():
        tail.append(f"By {brand}.")
    if first.price is not None and math.isfinite(first.price) and first.price > 0:
        tail.append(f"From ${first.price:,.2f}.")
    tail_text = " ".join(tail)
    lead = _lead(clean_text(first.description), BODY_CHARS - len(tail_text) - 1)
    made_body = " ".join(p for p in (lead, tail_text) if p) or f"Shop {title}."
    return AdCopy(headline or made_headline, body or made_body, True)
