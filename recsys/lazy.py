"""Package names imported on first use (PEP 562), shared by the packages that need it.

Importing any `recsys.*` module runs its packages' `__init__`; where those re-export names from modules
with heavy libraries (pandas, scipy, faiss, psycopg, the FastAPI app), a process that needs none of them
(the `recsys serve --workers N` supervisor) would still load them. A package lists where each name lives
and installs `lazy_names(...)` as its module `__getattr__` and `__dir__`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(package: str, homes: Mapping[str, str], namespace: dict[str, Any]
               ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`(__getattr__, __dir__)` for `package`: a name in `homes` is imported from its module on first use
    and kept in `namespace` (the package's globals), so later lookups are plain attribute reads."""

    def getattr_(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(home), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted({*namespace, *homes})

    return getattr_, dir_
