"""Seeded sequence data for the learned-ranker tests: the next item is always the current item + 1.

12 products in 3 categories; each user starts at a seeded item and walks s, s+1, s+2, … (mod 12), one
purchase per day. A ranker that learns order ("the item after the last one") gets every target right.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

N_ITEMS = 12
CATEGORIES = ("Home > Kitchen", "Sports > Running", "Books > Fiction")


def item_id(i: int) -> str:
    return f"p{i % N_ITEMS:02d}"


def sequence_frames(n_users: int = 80, length: int = 5, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    products = pd.DataFrame({
        "product_id": [item_id(i) for i in range(N_ITEMS)],
        "title": [f"{CATEGORIES[i % 3].split(' > ')[1].lower()} item number {i}" for i in range(N_ITEMS)],
        "description": "",
        "category": [CATEGORIES[i % 3] for i in range(N_ITEMS)],
        "brand": [f"brand{i % 4}" for i in range(N_ITEMS)],
        "price": [5.0 + 3 * i for i in range(N_ITEMS)],
    })
    rows = []
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    for u in range(n_users):
        start = int(rng.integers(N_ITEMS))
        for step in range(length):
            rows.append((f"u{u:03d}", item_id(start + step), "purchase", t0 + pd.Timedelta(days=u % 7 + step),
                         None, ""))
    events = pd.DataFrame(rows, columns=["user_id", "product_id", "event_type", "timestamp", "rating", "text"])
    return products, events
