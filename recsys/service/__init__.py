"""The recommendation service: a FastAPI app over loaded indexes and a durable event store.

    from recsys.service import Settings, create_app
    app = create_app(Settings(index="indexes/gift_cards"))

Layout: `app` (factory, lifespan, limits), `settings`, `keys` (API keys → tenants), `tenants` (index
per tenant, hot swap), `configs` (named blend configs, experiments), `online` and `live` (events
reflected in profiles and popularity), `portrait`, `answers` (endpoint logic), `routers/` (one per concern).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recsys.service.app import create_app
    from recsys.service.settings import Settings

__all__ = ["create_app", "Settings"]


def __getattr__(name: str) -> Any:
    """`create_app` and `Settings` on first use: `recsys.service.settings` alone (the `recsys serve`
    supervisor's need) must not import the app and everything it serves with."""
    if name == "create_app":
        from recsys.service.app import create_app

        return create_app
    if name == "Settings":
        from recsys.service.settings import Settings

        return Settings
    raise AttributeError(f"module 'recsys.service' has no attribute {name!r}")
