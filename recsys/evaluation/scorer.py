"""The ``Scorer`` interface every evaluated method implements (baselines, text, blends)."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from recsys.errors import RecsysError
from recsys.evaluation.data import EvalData

T = TypeVar("T")

__all__ = ["Scorer", "require_fitted"]


@runtime_checkable
class Scorer(Protocol):
    """``score(user_rows)`` returns float32 ``(len(user_rows), n_items)``, higher is better.

    ``user_rows`` are row positions in the ``EvalData.matrix`` last passed to ``fit``. ``param_grid()``
    lists the parameter dicts to tune over (``[{}]`` = nothing to tune). A scorer that cannot run on the
    data raises a ``RecsysError`` saying why; the harness reports it as skipped. Scores of ``-inf`` mean
    "never recommend".
    """

    name: str

    def param_grid(self) -> list[dict[str, Any]]: ...

    def fit(self, data: EvalData, params: dict[str, Any]) -> None: ...

    def score(self, user_rows: np.ndarray) -> np.ndarray: ...


def require_fitted(value: T | None, name: str) -> T:
    """`value` once fitted; a clear error when a scorer is used before ``fit``."""
    if value is None:
        raise RecsysError(f"{name}.score was called before fit; call fit(data, params) first")
    return value
