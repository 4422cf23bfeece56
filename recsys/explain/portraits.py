"""Interest portraits (用户画像): a user's history grouped into a few interest clusters, each named by
its dominant category (plus its brand when one dominates), with its distinctive terms and example items,
in the user's language. Pure: arrays and frames in, values out.

Clustering: the user's items with positive net event weight (event weights are already time-decayed,
see `recsys.features.profiles`) are grouped by average-linkage hierarchical clustering of their vectors under
cosine distance (scipy), cut at `merge_distance`; when that leaves more than `max_clusters` groups the
tree is cut into exactly `max_clusters`. A cluster's `share` is its part of the user's positive,
time-decayed weight, so recent heavy interests come first and old ones fade.

Names: a shopper or marketer thinks in categories, so a cluster is labelled by the deepest category path
prefix ("Gift Cards > Restaurants") that carries at least `dominant_share` of the cluster's weight, a
shallower prefix when no deeper one does, and its distinctive terms when no prefix does (items without a
category still count in the weight, so a mostly uncategorised cluster is named by its terms) or when the
prefix is held by more than `max_catalogue_share` of the catalogue: like a word in every product, a path
every product shares ("Gift Cards > Gift Cards" in the Amazon Gift Cards sample) tells interests apart
no better than no name at all. A brand
carrying `dominant_share` of the weight is added ("… from Starbucks", "来自星巴克的…"). Category levels
that read like sentences or are longer than `MAX_LEVEL_CHARS` are feature bullets some catalogues paste
into the path; the path is cut before them. The path and brand are catalogue text; the words around
them follow the user's language (see `recsys.explain.wording`).

Terms: TF-IDF-like. A term scores Σ over the cluster's items of item weight × idf(term), counting each
term once per item text (title, last category level, brand), twice when the user's own positive review
of the item uses it too; idf comes from the same item texts over the whole catalogue, so words every
product shares ("gift", "card" on a gift-card shop) sink. Review words that are not in the item's text
("great", "fast") never become labels: labels name things one can find in the shop. Terms in the
user's language (the dominant language of their own texts, else of their items' titles) come first.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage

from recsys.artifacts import POSITION, WEIGHT, Artifacts
from recsys.data import schema as S
from recsys.explain.packed import Coded, PackedSets
from recsys.explain.wording import interest_label, verb
from recsys.text.lang import HAN_CLASS, dominant_language
from recsys.text.sentiment import score_events
from recsys.text.tokenize import tokenize

__all__ = [
    "PortraitParams",
    "CatalogueTerms",
    "InterestCluster",
    "category_levels",
    "dominant_category",
    "dominant_brand",
    "item_label_texts",
    "catalogue_terms",
    "version_terms",
    "cluster_items",
    "interest_clusters",
    "interests_for",
    "portrait",
]

_HAN = re.compile(f"[{HAN_CLASS}]")


@dataclass(frozen=True)
class PortraitParams:
    max_clusters: int = 3
    #: Cosine distance (1 − cosine) up to which average-linkage merges two groups of items.
    merge_distance: float = 0.6
    top_terms: int = 5
    examples: int = 3
    #: Share of a cluster's weight a category prefix or a brand needs to name the cluster.
    dominant_share: float = 0.6
    #: A category prefix held by more than this share of the catalogue's products names nothing (like a
    #: term in every product): on a gift-card shop "Gift Cards > Gift Cards" would name every interest.
    max_catalogue_share: float = 0.5


def item_label_texts(products: pd.DataFrame) -> list[str]:
    """Per product: title, the most specific category level and brand, joined by " · "."""
    out: list[str] = []
    for title, cat, brand in zip(products[S.TITLE], products[S.CATEGORY], products[S.BRAND], strict=True):
        parts = [str(title or ""), str(cat or "").split(" > ")[-1], str(brand or "")]
        out.append(" · ".join(p.strip() for p in parts if p and p.strip() and p != "nan"))
    return out


@dataclass(frozen=True)
class CatalogueTerms:
    """Document frequencies of terms over the catalogue's item label texts, and each item's terms; with
    categories and brands, each item's category levels and brand and how many products hold each
    category path prefix (empty when built from texts alone: clusters are then named by their terms)."""

    n_docs: int
    df: dict[str, int]
    #: Stored packed (`recsys.explain.packed`): a catalogue's worth of sets and tuples as Python objects
    #: would cost a server process over a gigabyte at a million products.
    item_terms: Sequence[frozenset[str]] = field(repr=False)
    item_categories: Sequence[tuple[str, ...]] = field(default_factory=list, repr=False)
    item_brands: Sequence[str] = field(default_factory=list, repr=False)
    category_df: dict[tuple[str, ...], int] = field(default_factory=dict, repr=False)

    @classmethod
    def from_texts(cls, texts: Sequence[str], categories: Sequence[object] | None = None,
                   brands: Sequence[object] | None = None) -> CatalogueTerms:
        for name, column in (("categories", categories), ("brands", brands)):
            if column is not None and len(column) != len(texts):
                raise ValueError(f"{len(texts)} texts but {len(column)} {name}: give one per product")
        item_terms = PackedSets(frozenset(_label_terms(t)) for t in texts)
        levels: Sequence[tuple[str, ...]] = []
        prefix_df: Counter[tuple[str, ...]] = Counter()  # products per category path prefix
        if categories is not None:
            levels = coded = Coded(category_levels(c) for c in categories)
            per_path = np.bincount(coded.codes, minlength=len(coded.distinct)).tolist()
            for lv, n in zip(coded.distinct, per_path, strict=True):
                for d in range(1, len(lv) + 1):
                    prefix_df[lv[:d]] += n
        names: Sequence[str] = (Coded(b.strip() if isinstance(b, str) else "" for b in brands)
                                if brands is not None else [])
        return cls(len(texts), item_terms.counts(), item_terms, levels, names, dict(prefix_df))

    def idf(self, term: str) -> float:
        """log((1 + n) / (1 + df)): 0 for a term in every product (and for terms the catalogue does not
        use), so a term shared by a whole large cluster cannot win on count alone."""
        d = self.df.get(term, 0)
        return math.log((1 + self.n_docs) / (1 + d)) if d else 0.0


#: Fragments of web addresses ("Amazon.com" tokenizes to amazon, com): never a useful interest label.
_NOT_LABELS = frozenset({"com", "www", "http", "https", "net", "org", "html"})


def _label_terms(text: str) -> list[str]:
    return [t for t in tokenize(text) if not t.isdigit() and t not in _NOT_LABELS]


#: The catalogue columns `catalogue_terms` reads.
TERM_COLUMNS = (S.TITLE, S.CATEGORY, S.BRAND)


def catalogue_terms(products: pd.DataFrame) -> CatalogueTerms:
    """`CatalogueTerms` of a catalogue frame. It tokenizes the whole catalogue: callers that answer many
    requests compute it once per loaded version and pass it in (`Recommender.terms`)."""
    return CatalogueTerms.from_texts(item_label_texts(products), products[S.CATEGORY].tolist(),
                                     products[S.BRAND].tolist())


def version_terms(art: Artifacts) -> CatalogueTerms:
    """`catalogue_terms` of a loaded version, reading only the columns it needs (a served version does
    not hold its catalogue frame: see `Artifacts.products`)."""
    return catalogue_terms(art.product_columns(TERM_COLUMNS))


def cluster_items(vectors: np.ndarray, params: PortraitParams = PortraitParams()) -> np.ndarray:
    """Cluster label (0, 1, …) per row of unit `vectors`, by average-linkage cosine clustering."""
    n = len(vectors)
    if n <= 1:
        return np.zeros(n, np.int64)
    tree = linkage(np.asarray(vectors, np.float64), method="average", metric="cosine")
    tree[:, 2] = np.maximum(tree[:, 2], 0.0)  # rounding can make a distance of identical rows −1e-17
    labels = fcluster(tree, t=params.merge_distance, criterion="distance")
    if labels.max() > params.max_clusters:
        labels = fcluster(tree, t=params.max_clusters, criterion="maxclust")
    return labels.astype(np.int64) - 1


#: A category level longer than this is a feature bullet pasted into the path, not a category name.
MAX_LEVEL_CHARS = 60
_SENTENCE_ENDS = (".", "!", "?", "。", "！", "？")


def category_levels(category: object) -> tuple[str, ...]:
    """The levels of an "A > B > C" path, cut before the first empty or sentence-like level."""
    if not isinstance(category, str):
        return ()
    out: list[str] = []
    for level in category.split(" > "):
        level = level.strip()
        if not level or len(level) > MAX_LEVEL_CHARS or level.endswith(_SENTENCE_ENDS):
            break
        out.append(level)
    return tuple(out)


def _dominant(keys: Sequence[tuple[str, ...]], weights: np.ndarray, share: float) -> tuple[str, ...] | None:
    """The heaviest key carrying at least `share` of the total weight (keys () carry weight but never win)."""
    total = float(weights.sum())
    acc: Counter[tuple[str, ...]] = Counter()
    for k, x in zip(keys, weights.tolist(), strict=True):
        if k:
            acc[k] += x
    if total <= 0 or not acc:
        return None
    best, x = min(acc.items(), key=lambda kx: (-kx[1], kx[0]))
    return best if x >= share * total * (1 - 1e-9) else None


def dominant_category(levels: Sequence[tuple[str, ...]], weights: Sequence[float] | np.ndarray,
                      share: float = PortraitParams.dominant_share,
                      too_common: Callable[[tuple[str, ...]], bool] | None = None) -> str | None:
    """The deepest category path prefix (of items' `category_levels`) carrying at least `share` of the
    items' weight, trying shallower prefixes when no deeper one does; None when not even a top level
    does, or when the dominant prefix is `too_common` (its shallower prefixes are then too)."""
    w = np.asarray(weights, float)
    for depth in range(max((len(lv) for lv in levels), default=0), 0, -1):
        best = _dominant([lv[:depth] if len(lv) >= depth else () for lv in levels], w, share)
        if best is not None:
            return None if too_common is not None and too_common(best) else " > ".join(best)
    return None


def dominant_brand(brands: Sequence[object], weights: Sequence[float] | np.ndarray,
                   share: float = PortraitParams.dominant_share) -> str | None:
    """The brand carrying at least `share` of the items' weight (items without a brand count against it)."""
    keys = [(b.strip(),) if isinstance(b, str) and b.strip() else () for b in brands]
    best = _dominant(keys, np.asarray(weights, float), share)
    return None if best is None else best[0]


@dataclass(frozen=True)
class InterestCluster:
    label: str
    terms: tuple[tuple[str, float], ...]  # (term, share of the label score), best first
    share: float  # part of the user's positive time-decayed weight
    positions: tuple[int, ...]  # catalogue positions of the member items, heaviest first
    category: str | None = None  # the dominant category path prefix, when one dominates
    brand: str | None = None  # the dominant brand, when one dominates

    def examples(self, n: int) -> tuple[int, ...]:
        return self.positions[:n]


def _term_lang(term: str) -> str:
    return "zh" if _HAN.search(term) else "en"


def _label(scores: Counter[str], lang: str, top: int) -> tuple[tuple[str, float], ...]:
    positive = ((t, s) for t, s in scores.items() if s > 0)
    best = sorted(positive, key=lambda ts: (_term_lang(ts[0]) != lang, -ts[1], ts[0]))[:top]
    total = sum(s for _, s in best) or 1.0
    return tuple((t, round(s / total, 4)) for t, s in best)


def interest_clusters(
    history_pos: np.ndarray,
    history_w: np.ndarray,
    history_text: Sequence[str],
    item_vectors: np.ndarray,
    terms: CatalogueTerms,
    titles: Sequence[str] | np.ndarray,
    params: PortraitParams = PortraitParams(),
) -> tuple[list[InterestCluster], str]:
    """Interest clusters of one history (rows: catalogue position or −1, signed weight, own text) and the
    user's language ("zh" or "en"). Clusters are ordered by share, heaviest first; they are named by the
    categories and brands in `terms` when it has them, else by their terms."""
    pos = np.asarray(history_pos, np.int64)
    w = np.asarray(history_w, float)
    on_item = pos >= 0
    uniq, inv = np.unique(pos[on_item], return_inverse=True)
    net = np.bincount(inv, weights=w[on_item], minlength=len(uniq))
    items, iw = uniq[net > 0], net[net > 0]
    own = [str(t) if t is not None else "" for t in history_text]
    # The user's own words decide; the titles of what they liked only break ties or stand in for silence.
    lang = dominant_language([t for t in own if t], default=dominant_language([str(titles[p]) for p in items]))
    if len(items) == 0:
        return [], lang
    labels = cluster_items(item_vectors[items], params)
    mentioned: dict[int, set[str]] = {}
    for p, x, t in zip(pos.tolist(), w.tolist(), own, strict=True):
        if p >= 0 and x > 0 and t.strip():
            mentioned.setdefault(p, set()).update(_label_terms(t))
    total = float(iw.sum())

    def common(prefix: tuple[str, ...]) -> bool:
        return terms.category_df.get(prefix, 0) > params.max_catalogue_share * terms.n_docs

    out: list[InterestCluster] = []
    for c in range(int(labels.max()) + 1):
        member = labels == c
        order = np.lexsort((items[member], -iw[member]))
        members, mw = items[member][order], iw[member][order]
        scores: Counter[str] = Counter()
        for p, x in zip(members.tolist(), mw.tolist(), strict=True):
            said = mentioned.get(p, set())
            for t in terms.item_terms[p]:
                scores[t] += x * terms.idf(t) * (2.0 if t in said else 1.0)
        label_terms = _label(scores, lang, params.top_terms)
        category = dominant_category([terms.item_categories[p] for p in members.tolist()], mw,
                                     params.dominant_share, common) if terms.item_categories else None
        brand = dominant_brand([terms.item_brands[p] for p in members.tolist()], mw,
                               params.dominant_share) if terms.item_brands else None
        label = interest_label(category, brand, [t for t, _ in label_terms[:3]], lang) or str(titles[members[0]])
        out.append(InterestCluster(label, label_terms, round(float(mw.sum()) / total, 4), tuple(members.tolist()),
                                   category, brand))
    out.sort(key=lambda c: (-c.share, c.positions[0]))
    return out, lang


def interests_for(art: Artifacts, history: pd.DataFrame, params: PortraitParams = PortraitParams(),
                  *, terms: CatalogueTerms | None = None) -> tuple[list[InterestCluster], str]:
    """`interest_clusters` of history rows that carry `position` and `weight` (see `recsys.artifacts`)."""
    return interest_clusters(history[POSITION].to_numpy(np.int64), history[WEIGHT].to_numpy(float),
                             history[S.TEXT].fillna("").astype(str).tolist(), art.item_vectors,
                             terms if terms is not None else version_terms(art), art.titles, params)


def _item(art: Artifacts, p: int) -> dict[str, object]:
    return {"product_id": str(art.product_ids[p]), "title": str(art.titles[p])}


def _per_item(pos: np.ndarray, w: np.ndarray, sent: np.ndarray, kinds: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[list[str]]]:
    """Per item, in first-appearance order: its position, summed weight, mean sentiment of the events that
    have one (NaN when none) and its sorted event types. A history is at most a few thousand rows, so
    plain loops beat building a frame to group it."""
    first: dict[int, int] = {}
    for p in pos.tolist():
        first.setdefault(p, len(first))
    slot = np.fromiter((first[p] for p in pos.tolist()), np.int64, len(pos))
    n = len(first)
    summed = np.bincount(slot, w, minlength=n)
    rated = ~np.isnan(sent)
    count = np.bincount(slot[rated], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, np.bincount(slot[rated], sent[rated], minlength=n) / np.maximum(count, 1), np.nan)
    types: list[set[str]] = [set() for _ in range(n)]
    for i, t in zip(slot.tolist(), kinds.tolist(), strict=True):
        types[i].add(str(t))
    return np.fromiter(first, np.int64, n), summed, mean, [sorted(t) for t in types]


def portrait(user_id: str, history: pd.DataFrame, vector: np.ndarray | None, art: Artifacts,
             *, top: int = 10, params: PortraitParams = PortraitParams(),
             terms: CatalogueTerms | None = None) -> dict[str, object]:
    """The readable portrait: interest clusters, categories, terms, past items (signed weight, the
    user's review sentiment, contribution = weight × cosine(item, profile)) and searches."""
    pos = history[POSITION].to_numpy(np.int64)
    w = history[WEIGHT].to_numpy(float)
    on_item = pos >= 0
    cats = art.features.category  # the catalogue's category column, without a new str per product
    terms = terms if terms is not None else version_terms(art)
    clusters, lang = interests_for(art, history, params, terms=terms)

    sent = score_events(history)["sentiment"].to_numpy(float)
    idx, summed, mean_sent, kinds = _per_item(pos[on_item], w[on_item], sent[on_item],
                                              history[S.EVENT_TYPE].to_numpy()[on_item])
    cos = (art.item_vectors[idx] @ vector) if vector is not None and len(idx) else np.zeros(len(idx))
    order = np.argsort(-np.abs(summed), kind="stable")[:top]  # ties: the item first met in the history first
    past = [
        {**_item(art, int(idx[i])), "category": str(cats[idx[i]]), "events": [verb(t, lang) for t in kinds[i]],
         "weight": round(float(summed[i]), 4),
         "sentiment": None if np.isnan(mean_sent[i]) else round(float(mean_sent[i]), 4),
         "contribution": round(float(summed[i] * cos[i]), 4)}
        for i in order.tolist()
    ]

    positive = on_item & (w > 0)
    cat_w: Counter[str] = Counter()
    for c, x in zip(cats[pos[positive]].tolist(), w[positive].tolist(), strict=True):
        cat_w[str(c) or "(none)"] += x
    total = sum(cat_w.values()) or 1.0
    categories = [{"category": c, "weight": round(x / total, 4)} for c, x in cat_w.most_common(top)]

    scores: Counter[str] = Counter()
    own = history[S.TEXT].fillna("").astype(str).to_numpy()
    for p, x, text in zip(pos.tolist(), w.tolist(), own.tolist(), strict=True):
        if x <= 0:
            continue
        said = set(_label_terms(text)) if text else set()
        if p >= 0:  # item terms, twice when the review uses them too (as for the clusters)
            for t in terms.item_terms[p]:
                scores[t] += x * terms.idf(t) * (2.0 if t in said else 1.0)
        else:  # a search: its words that the catalogue uses
            for t in said & terms.df.keys():
                scores[t] += x * terms.idf(t)
    searches = [{"text": t, "weight": round(float(x), 4)} for t, x in
                zip(own[~on_item & (own != "")].tolist(), w[~on_item & (own != "")].tolist(), strict=True)][:top]
    return {
        "user_id": user_id,
        "has_profile": vector is not None,
        "language": lang,
        "n_events": int(len(history)),
        "interests": [
            {"label": c.label, "category": c.category, "brand": c.brand, "share": c.share,
             "terms": [{"term": t, "weight": x} for t, x in c.terms],
             "n_items": len(c.positions), "examples": [_item(art, p) for p in c.examples(params.examples)]}
            for c in clusters
        ],
        "categories": categories,
        "terms": [{"term": t, "weight": x} for t, x in _label(scores, lang, top)],
        "items": past,
        "searches": searches,
    }
