"""Wording of explanations in the user's language, English and Chinese: past-tense verbs of event types
and the names of interest clusters."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["verb", "interest_label", "VERBS", "VERBS_ZH"]

VERBS = {
    "view": "viewed", "click": "clicked", "cart": "added to cart", "purchase": "bought",
    "review": "reviewed", "rating": "rated", "search": "searched for", "impression": "saw",
}
VERBS_ZH = {
    "view": "浏览过", "click": "点击过", "cart": "加购过", "purchase": "购买过",
    "review": "评价过", "rating": "评分过", "search": "搜索过", "impression": "看到过",
}


def verb(event_type: str, lang: str = "en") -> str:
    """The past-tense verb of an event type in "en" or "zh"."""
    if lang == "zh":
        return VERBS_ZH.get(event_type, "接触过")
    return VERBS.get(event_type, "interacted with")


def interest_label(category: str | None, brand: str | None, terms: Sequence[str], lang: str = "en") -> str:
    """An interest cluster's name: its category path, else its top terms, with the brand when there is one
    ("Gift Cards > Restaurants from Starbucks", "来自星巴克的Gift Cards > Restaurants"). The path, terms and
    brand are catalogue text; only the connecting words follow `lang`. Empty when all three are missing."""
    base = category or ("、" if lang == "zh" else ", ").join(terms)
    if not brand or brand.casefold() in base.casefold():  # "Starbucks" needs no "from Starbucks"
        return base
    if not base:
        return brand
    return f"来自{brand}的{base}" if lang == "zh" else f"{base} from {brand}"
