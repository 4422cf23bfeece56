"""Where the chunked scan runs: in this process (``local``) or on a Dask cluster (``dask``).

Both executors implement one method, ``search(queries, k) -> TopK``, over the same user chunks
(``score.chunk_bounds``) with the same chunk function and the same in-order merge, so they give
bit-identical answers. The Dask executor starts a ``LocalCluster(n_workers=2, threads_per_worker=1)``
unless given the address of a running scheduler, scatters the user chunks once, bounds every wait
with a timeout, and always closes what it started (use it as a context manager).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Protocol

import numpy as np

from recsys.audience.score import (
    DEFAULT_CHUNK_ROWS,
    PAD,
    TopK,
    chunk_bounds,
    finalize_topk,
    merge_in_order,
    merge_topk,
    score_floor,
    search_chunk,
)
from recsys.errors import ConfigError, RecsysError

__all__ = ["ExecutorName", "EXECUTORS", "ScanExecutor", "LocalExecutor", "DaskExecutor", "DaskOptions", "make_executor"]

ExecutorName = Literal["local", "dask"]
EXECUTORS: tuple[str, ...] = ("local", "dask")


class ScanExecutor(Protocol):
    name: str

    def search(self, queries: np.ndarray, k: int) -> TopK: ...

    def close(self) -> None: ...

    def __enter__(self) -> ScanExecutor: ...

    def __exit__(self, *exc: object) -> None: ...


def _check_users(users: np.ndarray) -> np.ndarray:
    if users.ndim != 2 or users.shape[0] == 0:
        raise ConfigError(f"the user matrix must be a non-empty 2-d array, got shape {users.shape}; "
                          "build the index from data with user histories")
    return np.ascontiguousarray(users, np.float32)


class _Closing:
    def __enter__(self) -> Any:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()  # type: ignore[attr-defined]


class LocalExecutor(_Closing):
    """Scan the chunks one after another in this process (BLAS uses every core inside a chunk)."""

    name = "local"

    def __init__(self, users: np.ndarray, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> None:
        self.users = _check_users(users)
        self.bounds = chunk_bounds(len(self.users), chunk_rows)

    def search(self, queries: np.ndarray, k: int) -> TopK:
        """Chunks in order; after the first, users below each query's current k-th best score are skipped
        (see ``score.score_floor``), which leaves the answer unchanged."""
        acc = np.full((len(queries), k), PAD, np.uint64)
        for a, b in self.bounds:
            part = search_chunk(queries, self.users[a:b], a, k, score_floor(acc))
            acc = merge_topk(acc, part, k)
        return finalize_topk(acc)

    def close(self) -> None:
        return None


@dataclass(frozen=True)
class DaskOptions:
    address: str | None = None  # None: start a LocalCluster and close it afterwards
    n_workers: int = 2
    threads_per_worker: int = 1
    timeout_s: float = 600.0


class DaskExecutor(_Closing):
    """Scan the chunks as Dask tasks; the answers are gathered and merged in chunk order."""

    name = "dask"

    def __init__(self, users: np.ndarray, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 options: DaskOptions = DaskOptions()) -> None:
        from distributed import Client, LocalCluster

        users = _check_users(users)
        self.bounds = chunk_bounds(len(users), chunk_rows)
        self.options = options
        self._cluster: Any = None
        self._client: Any = None
        try:
            if options.address is None:
                self._cluster = LocalCluster(n_workers=options.n_workers, threads_per_worker=options.threads_per_worker,
                                             processes=True, dashboard_address=None, silence_logs=logging.ERROR)
                self._client = Client(self._cluster, timeout=options.timeout_s)
            else:
                self._client = Client(options.address, timeout=options.timeout_s)
            self._chunks = [self._client.scatter(users[a:b], broadcast=False) for a, b in self.bounds]
        except OSError as exc:
            self.close()
            where = options.address or "a LocalCluster"
            raise RecsysError(f"could not start or reach the Dask cluster ({where}): {exc}; check --dask-address "
                              "or run with --engine local") from exc
        except BaseException:
            self.close()
            raise

    def search(self, queries: np.ndarray, k: int) -> TopK:
        from distributed import wait

        q = np.ascontiguousarray(queries, np.float32)
        futures = [self._client.submit(search_chunk, q, chunk, a, k, pure=False)
                   for chunk, (a, _b) in zip(self._chunks, self.bounds, strict=True)]
        try:
            wait(futures, timeout=self.options.timeout_s)
            parts = self._client.gather(futures)
        except TimeoutError as exc:
            raise RecsysError(f"the Dask scan did not finish within {self.options.timeout_s:.0f}s; raise the timeout "
                              "or use --engine local") from exc
        finally:
            for f in futures:
                f.release()
        return merge_in_order(parts, len(q), k)

    def close(self) -> None:
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        try:
            if client is not None:
                client.close(timeout=30)
        finally:
            if cluster is not None:
                cluster.close(timeout=30)


def make_executor(name: ExecutorName, users: np.ndarray, *, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                  dask: DaskOptions = DaskOptions()) -> LocalExecutor | DaskExecutor:
    """The executor called ``name`` (the ``--engine`` flag of ``recsys audience build``) over ``users``;
    close it (or use ``with``) when done."""
    if name == "local":
        return LocalExecutor(users, chunk_rows)
    if name == "dask":
        return DaskExecutor(users, chunk_rows, dask)
    raise ConfigError(f"unknown engine {name!r}; expected one of {', '.join(EXECUTORS)}")
