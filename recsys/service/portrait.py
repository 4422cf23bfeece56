"""The profile endpoint's portrait: a thin call into `recsys.explain.portraits` (interest clusters with labels and
examples, categories, terms, past items with weights and review sentiment, searches)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.artifacts import Artifacts
from recsys.explain.portraits import PortraitParams
from recsys.explain.portraits import portrait as _portrait

__all__ = ["portrait"]


def portrait(user_id: str, history: pd.DataFrame, vector: np.ndarray | None, art: Artifacts,
             *, top: int = 10, params: PortraitParams = PortraitParams()) -> dict[str, object]:
    """History rows carry canonical columns plus `position` and `weight` (see `recsys.artifacts`)."""
    return _portrait(user_id, history, vector, art, top=top, params=params)
