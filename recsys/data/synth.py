"""Seeded synthetic datasets in the canonical schema, at any scale, for load and index benchmarks.

Text is realistic because it is real: every synthetic product recombines fields of a seed catalogue
(title of one product with the brand of another, a variant suffix, the description of the first plus a
sentence of a third, its category path), and every review reuses a real review text. Users follow a
Zipf-like product popularity, a mix of event types and timestamps spread over the seed's time range.
Everything is vectorised, so a million products and users take well under a minute.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.data import schema as S
from recsys.data.dataset import Dataset

__all__ = ["SynthParams", "synthesize", "EVENT_MIX"]

#: Share of each event type among synthetic events (searches carry a query and no product).
EVENT_MIX: dict[str, float] = {"view": 0.45, "click": 0.2, "cart": 0.08, "purchase": 0.07, "review": 0.1,
                               "rating": 0.05, "search": 0.05}
_VARIANTS = np.array(["", " - Classic", " - Holiday Edition", " - Birthday Design", " (Pack of 3)", " - eGift",
                      " - Mini", " - Premium", " (Plastic Card)", " - Thank You Design", " - Limited Edition",
                      " (Email Delivery)", " - Wedding", " - Blue", " - Gold"], dtype=object)
_DENOMINATIONS = np.array([10, 15, 20, 25, 30, 40, 50, 75, 100, 150, 200], dtype=np.float64)
_STAR_P = np.array([0.04, 0.03, 0.07, 0.16, 0.70])  # 1★..5★, the usual J-shape of product reviews


@dataclass(frozen=True)
class SynthParams:
    n_products: int
    n_users: int
    #: Mean events per user (at least one each).
    events_per_user: float = 5.0
    #: Popularity skew: product at popularity rank r is chosen ∝ 1 / (r + 10) ** zipf.
    zipf: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_products < 1 or self.n_users < 0 or self.events_per_user < 1:
            raise ValueError(f"need n_products ≥ 1, n_users ≥ 0, events_per_user ≥ 1; got {self}")


def _first_sentence(texts: pd.Series) -> pd.Series:
    return texts.fillna("").str.split(". ", n=1, regex=False).str[0].str.slice(0, 200)


def _synth_products(seed_products: pd.DataFrame, p: SynthParams, rng: np.random.Generator) -> pd.DataFrame:
    src = seed_products.reset_index(drop=True)
    n, m = p.n_products, len(src)
    base, other, third = rng.integers(0, m, n), rng.integers(0, m, n), rng.integers(0, m, n)
    brand = src[S.BRAND].fillna("").to_numpy(dtype=object)[other]
    title_src = src[S.TITLE].fillna("").to_numpy(dtype=object)[base]
    base_brand = src[S.BRAND].fillna("").to_numpy(dtype=object)[base]
    swap = rng.random(n) < 0.5  # half the titles swap in another product's brand name
    titles = pd.Series(title_src, dtype=object)
    titles[swap] = [t.replace(b, nb, 1) if b else f"{nb} {t}" for t, b, nb in
                    zip(title_src[swap], base_brand[swap], brand[swap], strict=True)]
    titles = titles.str.strip() + _VARIANTS[rng.integers(0, len(_VARIANTS), n)]
    extra = _first_sentence(src[S.DESCRIPTION]).to_numpy(dtype=object)[third]
    desc = pd.Series(src[S.DESCRIPTION].fillna("").to_numpy(dtype=object)[base], dtype=object)
    desc = (desc + " " + extra).str.strip()
    price = src[S.PRICE].to_numpy(dtype=np.float64)[base]
    price = np.where(np.isnan(price), _DENOMINATIONS[rng.integers(0, len(_DENOMINATIONS), n)],
                     np.round(price * rng.lognormal(0.0, 0.15, n), 2))
    price[rng.random(n) < 0.1] = np.nan  # some products have no price, as in real catalogues
    return pd.DataFrame({
        S.PRODUCT_ID: pd.Series([f"SYN{i:08d}" for i in range(n)], dtype="str"),
        S.TITLE: titles.astype("str"),
        S.DESCRIPTION: desc.astype("str"),
        S.CATEGORY: pd.Series(src[S.CATEGORY].fillna("").to_numpy(dtype=object)[base], dtype="str"),
        S.BRAND: pd.Series(np.where(swap, brand, base_brand), dtype="str"),
        S.PRICE: price,
    })


def _synth_events(products: pd.DataFrame, seed_events: pd.DataFrame, p: SynthParams,
                  rng: np.random.Generator) -> pd.DataFrame:
    counts = 1 + rng.poisson(p.events_per_user - 1, p.n_users)
    total = int(counts.sum())
    users = np.repeat(np.arange(p.n_users), counts)
    rank_p = 1.0 / (np.arange(len(products)) + 10.0) ** p.zipf
    popular = rng.permutation(len(products))  # which product holds each popularity rank
    item = popular[rng.choice(len(products), size=total, p=rank_p / rank_p.sum())]
    types = np.array(list(EVENT_MIX), dtype=object)[
        rng.choice(len(EVENT_MIX), size=total, p=np.array(list(EVENT_MIX.values())) / sum(EVENT_MIX.values()))]
    texts = seed_events[S.TEXT].fillna("").astype(str)
    reviews = texts[texts.str.strip() != ""].to_numpy(dtype=object)
    if len(reviews) == 0:
        reviews = products[S.TITLE].to_numpy(dtype=object)
    is_review, is_rating, is_search = types == "review", types == "rating", types == "search"
    text = np.full(total, "", dtype=object)
    text[is_review] = reviews[rng.integers(0, len(reviews), int(is_review.sum()))]
    text[is_search] = _queries(products.iloc[item[is_search]])
    rating = np.full(total, np.nan)
    rated = is_review | is_rating
    rating[rated] = 1.0 + rng.choice(5, size=int(rated.sum()), p=_STAR_P)
    ts = seed_events[S.TIMESTAMP] if len(seed_events) else pd.Series([pd.Timestamp("2018-01-01", tz="UTC")])
    lo, hi = ts.min().value, max(ts.max().value, ts.min().value + 86_400 * 10**9)
    stamp = rng.integers(lo, hi, total)
    order = np.lexsort((stamp, users))  # users are already grouped; order each user's events by time
    pids = products[S.PRODUCT_ID].to_numpy(dtype=object)[item]
    pids[is_search] = None
    user_ids = np.array([f"U{u:08d}" for u in range(p.n_users)], dtype=object)
    return pd.DataFrame({
        S.USER_ID: pd.Series(user_ids[users], dtype="str"),
        S.PRODUCT_ID: pd.Series(pids[order], dtype="str"),
        S.EVENT_TYPE: pd.Series(types[order], dtype="str"),
        S.TIMESTAMP: pd.to_datetime(stamp[order], utc=True).astype("datetime64[us, UTC]"),
        S.RATING: rating[order],
        S.TEXT: pd.Series(text[order], dtype="str"),
    })


def _queries(products: pd.DataFrame) -> np.ndarray:
    """A search query per product: the first three title words, else its leaf category, else its id."""
    words = products[S.TITLE].str.split().str[:3].str.join(" ")
    for fallback in (products[S.CATEGORY].str.rsplit(" > ", n=1).str[-1], products[S.PRODUCT_ID]):
        words = words.where(words.str.strip() != "", fallback)  # a search must carry a query
    return words.to_numpy(dtype=object)


def synthesize(seed: Dataset, params: SynthParams) -> Dataset:
    """A new dataset of `params.n_products` products and `params.n_users` users built from `seed`'s fields."""
    if len(seed.products) == 0:
        raise ValueError(f"the seed dataset {seed.source} has no products to recombine; use a non-empty one")
    rng = np.random.default_rng(params.seed)
    products = _synth_products(seed.products, params, rng)
    events = _synth_events(products, seed.events, params, rng)
    return Dataset(products, events, f"synthetic:{params.n_products}x{params.n_users}:seed{params.seed}")
