"""An old import path of the user portrait, kept so existing imports keep working: the profile endpoint
(`recsys.service.answers.user_portrait`) calls `recsys.explain.portraits.portrait` directly, and new code
should import it from there."""

from __future__ import annotations

from recsys.explain.portraits import portrait

__all__ = ["portrait"]
