"""Shared fixtures: a tiny catalogue whose right answers are obvious, built with the hashing encoder."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "amazon2018_gift_cards"

PRODUCTS = [
    # id, title, category, price
    ("c1", "espresso coffee beans dark roast", "Grocery > Coffee", 12.0),
    ("c2", "burr coffee grinder", "Kitchen > Coffee", 45.0),
    ("c3", "ceramic coffee mug for espresso", "Kitchen > Coffee", 9.0),
    ("r1", "lightweight running shoes", "Sports > Running", 80.0),
    ("r2", "running socks breathable", "Sports > Running", 10.0),
    ("r3", "gps running watch", "Sports > Running", 150.0),
    ("b1", "mystery novel paperback", "Books > Fiction", 8.0),
    ("b2", "science fiction novel paperback", "Books > Fiction", 9.5),
    ("b3", "detective mystery novel hardcover", "Books > Fiction", None),
]


def _ts(day: int) -> pd.Timestamp:
    return pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=day)


EVENTS = [
    # user, product, type, day, rating, text
    ("u_coffee", "c1", "review", 1, 5.0, "great espresso coffee"),
    ("u_coffee", "c2", "purchase", 2, None, ""),
    ("u_run", "r1", "purchase", 1, None, ""),
    ("u_run", "r2", "view", 3, None, ""),
    ("u_book", "b1", "review", 2, 5.0, "loved this mystery novel"),
    # the 1-star case: hated a coffee grinder, loved a novel
    ("u_hater", "c2", "review", 1, 1.0, "terrible coffee grinder broke"),
    ("u_hater", "b2", "review", 2, 5.0, "wonderful novel"),
    # only negative evidence: no profile, falls back
    ("u_neg", "c1", "review", 1, 1.0, "awful coffee"),
    # a search event without product
    ("u_search", None, "search", 1, None, "running watch"),
    # co-occurrence: c3 bought with c1 by several users
    ("u_x1", "c1", "purchase", 1, None, ""),
    ("u_x1", "c3", "purchase", 1, None, ""),
    ("u_x2", "c1", "purchase", 2, None, ""),
    ("u_x2", "c3", "purchase", 2, None, ""),
    ("u_x3", "b1", "purchase", 4, None, ""),
    ("u_x3", "b3", "purchase", 4, None, ""),
]


def tiny_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    products = pd.DataFrame(
        {
            "product_id": [p[0] for p in PRODUCTS],
            "title": [p[1] for p in PRODUCTS],
            "description": "",
            "category": [p[2] for p in PRODUCTS],
            "brand": "",
            "price": [p[3] for p in PRODUCTS],
        }
    )
    events = pd.DataFrame(
        {
            "user_id": [e[0] for e in EVENTS],
            "product_id": [e[1] for e in EVENTS],
            "event_type": [e[2] for e in EVENTS],
            "timestamp": [_ts(e[3]) for e in EVENTS],
            "rating": [e[4] for e in EVENTS],
            "text": [e[5] for e in EVENTS],
        }
    )
    return products, events


def build_tiny_version(root: Path, extra_product: str | None = None) -> Path:
    """Build the tiny data (plus a copy of r1 named `extra_product`) into the index root `root` with a
    64-d hashing encoder; the new version's folder."""
    from recsys.build.pipeline import BuildOptions, build_index
    from recsys.data.dataset import make_dataset
    from recsys.encoders import make_encoder

    products, events = tiny_frames()
    if extra_product:
        products = pd.concat([products, products.iloc[[3]].assign(product_id=extra_product)], ignore_index=True)
    return build_index(make_dataset(products, events, "t"), root, make_encoder("hashing-64"),
                       BuildOptions(progress=False)).path


@pytest.fixture()
def tiny_dir(tmp_path: Path) -> Path:
    products, events = tiny_frames()
    d = tmp_path / "tiny"
    d.mkdir()
    products.to_parquet(d / "products.parquet", index=False)
    events.to_parquet(d / "events.parquet", index=False)
    return d


@pytest.fixture(scope="session")
def tiny_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built index over the tiny data with the hashing encoder (milliseconds)."""
    from recsys.build.pipeline import BuildOptions, build_index
    from recsys.data.dataset import make_dataset
    from recsys.encoders import make_encoder

    products, events = tiny_frames()
    out = tmp_path_factory.mktemp("idx") / "tiny"
    build_index(make_dataset(products, events, "tiny"), out, make_encoder("hashing-256"),
                BuildOptions(progress=False))
    return out


@pytest.fixture(scope="session")
def tiny_rec(tiny_index: Path):
    from recsys.recommender import Recommender

    return Recommender.load(tiny_index)
