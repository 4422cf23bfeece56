"""The recommendation service: a FastAPI app over loaded indexes and a durable event store.

    from recsys.service import Settings, create_app
    app = create_app(Settings(index="indexes/gift_cards"))

Layout: `app` (factory, lifespan, limits), `settings`, `keys` (API keys → tenants), `tenants` (index
per tenant, hot swap), `configs` (named blend configs, experiments), `online` and `live` (events
reflected in profiles and popularity), `portrait`, `answers` (endpoint logic), `routers/` (one per concern).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recsys.lazy import lazy_names

if TYPE_CHECKING:
    from recsys.service.app import create_app
    from recsys.service.settings import Settings

__all__ = ["create_app", "Settings"]


#: `recsys.service.settings` alone (the `recsys serve` supervisor's need) must not import the app and
#: everything it serves with.
__getattr__, __dir__ = lazy_names("recsys.service", {"create_app": "recsys.service.app",
                                                     "Settings": "recsys.service.settings"}, globals())
