"""One exception tree for recsys.

    RecsysError                      base; every error the library raises on purpose
    ├── DataValidationError          input data breaks the canonical schema (lists every problem)
    ├── ConfigError                  a config file/object is malformed or names unknown keys
    ├── EncoderError                 an encoder cannot be loaded or used
    ├── ArtifactError                an index folder is missing, corrupt or unreadable
    │   └── IndexMismatchError       the index was built with another model/dimension than requested
    └── NotFoundError                a lookup names something the index does not know
        ├── UnknownUserError
        └── UnknownItemError

Each message says what was expected, what was found and how to fix it. The CLI maps each class to an
exit code (``exit_code``), the HTTP layer to a status code (``http_status``), in one place each.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "RecsysError",
    "DataValidationError",
    "Problem",
    "ConfigError",
    "EncoderError",
    "ArtifactError",
    "IndexMismatchError",
    "NotFoundError",
    "UnknownUserError",
    "UnknownItemError",
]


class RecsysError(Exception):
    """Base class of every error recsys raises on purpose."""

    exit_code: int = 1
    http_status: int = 500


@dataclass(frozen=True)
class Problem:
    """One validation finding: where it is, what is wrong, and an example row."""

    file: str
    column: str
    message: str
    example: str = ""

    def __str__(self) -> str:
        where = f"{self.file}[{self.column}]" if self.column else self.file
        ex = f" (e.g. {self.example})" if self.example else ""
        return f"{where}: {self.message}{ex}"


class DataValidationError(RecsysError):
    """The input data breaks the canonical schema. ``problems`` lists every finding."""

    exit_code = 2
    http_status = 422

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"{len(self.problems)} data problem(s); nothing was written. Fix them and run again:\n{lines}"
        )


class ConfigError(RecsysError):
    exit_code = 2
    http_status = 422


class EncoderError(RecsysError):
    exit_code = 3


class ArtifactError(RecsysError):
    exit_code = 4
    http_status = 503


class IndexMismatchError(ArtifactError):
    exit_code = 5


class NotFoundError(RecsysError):
    exit_code = 6
    http_status = 404


class UnknownUserError(NotFoundError):
    pass


class UnknownItemError(NotFoundError):
    pass
