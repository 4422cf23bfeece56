"""Operations on index folders from the command line: `recsys rollback`, and the encoder that
`recsys build` runs, in this process or on Dask (its `--engine local|dask` flag picks the executor)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from recsys.cli.render import err

if TYPE_CHECKING:
    from recsys.encoders import Encoder

__all__ = ["rollback", "build_encoder", "Executor", "DASK_WORK_DIR"]

#: Where `recsys build` encodes (its `--engine` flag): in this process or on a Dask cluster.
Executor = Literal["local", "dask"]
#: Partition files of a Dask encode, inside the index root (dot-named: never taken for a version).
DASK_WORK_DIR = ".dask-work"


def rollback(
    index: Annotated[Path, typer.Option("--index", help="Index root folder (the one holding `current`).")],
) -> None:
    """Point `current` back at the version the current one was built from."""
    from recsys.index.store import current_version, rollback as _rollback

    before = current_version(index)
    after = _rollback(index)
    err.print(f"[green]rolled back[/] {index}: current {before} → {after}")


@contextmanager
def build_encoder(name: str, executor: Executor, index: Path, *, dask_address: str | None = None,
                  encoder_engine: str = "torch") -> Iterator[Encoder]:
    """The encoder `recsys build` uses. For Dask, the cluster lives as long as the `with` block, and the
    partition files are kept when the build fails (the next run resumes) and removed when it succeeds."""
    from recsys.encoders import make_encoder

    if executor == "local":
        yield make_encoder(name, engine=encoder_engine)
        return
    from recsys.build.distributed import DaskEncoder, dask_client

    work_dir = index / DASK_WORK_DIR
    err.print(f"encoding on Dask ({dask_address or 'LocalCluster, 2 workers × 1 thread'}), partitions in {work_dir}")
    with dask_client(dask_address) as client:
        encoder = DaskEncoder(name, client, work_dir)
        yield encoder
    err.print(f"Dask: {encoder.encoded_partitions} partitions encoded, {encoder.skipped_partitions} resumed")
    shutil.rmtree(work_dir, ignore_errors=True)
