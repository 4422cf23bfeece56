"""The canonical dataset schema, defined once.

products(product_id, title, description, category, brand, price)
events(user_id, product_id, event_type, timestamp UTC, rating, text)

Other modules refer to columns through these constants, never through string literals.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

# products
PRODUCT_ID: Final = "product_id"
TITLE: Final = "title"
DESCRIPTION: Final = "description"
CATEGORY: Final = "category"
BRAND: Final = "brand"
PRICE: Final = "price"
PRODUCT_COLUMNS: Final = (PRODUCT_ID, TITLE, DESCRIPTION, CATEGORY, BRAND, PRICE)
PRODUCT_TEXT_COLUMNS: Final = (TITLE, DESCRIPTION, CATEGORY, BRAND)
PRODUCT_REQUIRED: Final = (PRODUCT_ID,)

# events
USER_ID: Final = "user_id"
EVENT_TYPE: Final = "event_type"
TIMESTAMP: Final = "timestamp"
RATING: Final = "rating"
TEXT: Final = "text"
EVENT_COLUMNS: Final = (USER_ID, PRODUCT_ID, EVENT_TYPE, TIMESTAMP, RATING, TEXT)
EVENT_REQUIRED: Final = (USER_ID, PRODUCT_ID, EVENT_TYPE, TIMESTAMP)

EventType = Literal["view", "click", "cart", "purchase", "review", "rating", "search", "impression"]
EVENT_TYPES: Final[tuple[str, ...]] = get_args(EventType)
# Event types that may come without a product (the query is in `text`).
PRODUCTLESS_EVENT_TYPES: Final = frozenset({"search"})

RATING_MIN: Final = 1.0
RATING_MAX: Final = 5.0

PRODUCTS_FILE: Final = "products.parquet"
EVENTS_FILE: Final = "events.parquet"
