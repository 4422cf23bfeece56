"""Wording of explanations in the user's language: past-tense verbs of event types, English and Chinese."""

from __future__ import annotations

__all__ = ["verb", "VERBS", "VERBS_ZH"]

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
