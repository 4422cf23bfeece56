"""Vector tables stored as parquet: one row per key, a fixed-size float32 list, and a content hash.

The file's schema metadata records the model name and dimension, so a table can never be silently
mixed with vectors from another model.

A large table can keep its vectors beside the parquet instead, as one float32 C-order `.npy` matrix
(`save(..., matrix=...)`): the parquet then holds the keys and hashes, and its metadata names the matrix
file. Loading with `mmap` maps that matrix read-only, so every process serving the table shares one copy
of its pages, and a write into it raises instead of changing the stored vectors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from recsys.errors import ArtifactError, IndexMismatchError

__all__ = ["VectorTable"]

_META_KEY = b"recsys.index.vectors"
#: Metadata field naming the `.npy` file beside the parquet that holds the vectors.
_MATRIX = "matrix"


@dataclass(frozen=True)
class VectorTable:
    keys: np.ndarray  # object array of str
    vectors: np.ndarray  # (n, dim) float32, L2-normalised
    hashes: np.ndarray  # object array of str, content hash of the text each vector came from
    model: str
    dim: int

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or self.vectors.shape[1] != self.dim:
            raise ArtifactError(f"vectors have shape {self.vectors.shape}, expected (n, {self.dim})")
        if not (len(self.keys) == len(self.vectors) == len(self.hashes)):
            raise ArtifactError("keys, vectors and hashes differ in length")

    def __len__(self) -> int:
        return len(self.keys)

    def save(self, path: Path, *, matrix: Path | None = None) -> None:
        """Write the table to `path`; with `matrix` (a file in the same folder), the vectors go there as a
        float32 C-order `.npy` and the parquet holds only keys and hashes."""
        columns = {"key": pa.array(self.keys.astype(str), type=pa.string())}
        meta: dict[str, str | int] = {"model": self.model, "dim": self.dim}
        vectors = np.ascontiguousarray(self.vectors, dtype=np.float32)
        if matrix is None:
            flat = pa.array(vectors.ravel(), type=pa.float32())
            columns["vector"] = pa.FixedSizeListArray.from_arrays(flat, self.dim)
        else:
            if matrix.parent.resolve() != path.parent.resolve():
                raise ValueError(f"the matrix {matrix} must lie beside the table {path}")
            np.save(matrix, vectors, allow_pickle=False)
            meta[_MATRIX] = matrix.name
        columns["text_hash"] = pa.array(self.hashes.astype(str), type=pa.string())
        table = pa.table(columns)
        pq.write_table(table.replace_schema_metadata({_META_KEY: json.dumps(meta).encode()}), path)

    @classmethod
    def load(cls, path: Path, *, expect_model: str | None = None, expect_dim: int | None = None,
             mmap: bool = False) -> VectorTable:
        """With `mmap`, a table whose vectors are in a `.npy` matrix maps it read-only instead of reading it."""
        table = _read(path)
        meta = _checked_meta(path, table.schema, expect_model, expect_dim)
        return cls(
            keys=np.asarray(table.column("key").to_pylist(), dtype=object),
            vectors=_vectors(path, table, meta, mmap=mmap),
            hashes=np.asarray(table.column("text_hash").to_pylist(), dtype=object),
            model=meta["model"],
            dim=int(meta["dim"]),
        )

    @classmethod
    def load_vectors(cls, path: Path, *, expect_model: str | None = None, expect_dim: int | None = None,
                     mmap: bool = False) -> np.ndarray:
        """Only the vectors of the table at `path` (checked like `load`), without turning its keys and hashes
        into Python strings: what serving needs of the item table (at 1M items, `load`'s keys and hashes
        are 2M `str` objects, ≈270 MB while loading, that serving would drop at once)."""
        try:
            schema = pq.read_schema(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise ArtifactError(f"cannot read vector table {path}: {exc}") from exc
        meta = _checked_meta(path, schema, expect_model, expect_dim)
        table = _read(path, [] if _MATRIX in meta else ["vector"])
        return _vectors(path, table, meta, mmap=mmap)


def _read(path: Path, columns: list[str] | None = None) -> pa.Table:
    try:
        table = pq.read_table(path, columns=columns)
    except (OSError, pa.ArrowInvalid) as exc:
        raise ArtifactError(f"cannot read vector table {path}: {exc}") from exc
    return table


def _checked_meta(path: Path, schema: pa.Schema, expect_model: str | None, expect_dim: int | None) -> dict:
    raw = (schema.metadata or {}).get(_META_KEY)
    if raw is None:
        raise ArtifactError(f"{path} has no recsys vector metadata; rebuild it with `recsys build`")
    meta = json.loads(raw)
    if expect_model is not None and meta["model"] != expect_model:
        raise IndexMismatchError(
            f"{path} holds vectors of model {meta['model']!r}, expected {expect_model!r}; rebuild the index"
        )
    if expect_dim is not None and meta["dim"] != expect_dim:
        raise IndexMismatchError(f"{path} holds {meta['dim']}-d vectors, expected {expect_dim}; rebuild")
    return meta


def _vectors(path: Path, table: pa.Table, meta: dict, *, mmap: bool) -> np.ndarray:
    """The table's vectors: its `.npy` matrix when the metadata names one (mapped with `mmap`), else its
    `vector` column."""
    dim = int(meta["dim"])
    if _MATRIX in meta:
        return _load_matrix(path.parent / _plain_name(path, meta[_MATRIX]), table.num_rows, dim, mmap=mmap)
    col = table.column("vector").combine_chunks()
    return col.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(-1, dim)


def _plain_name(path: Path, name: object) -> str:
    if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
        raise ArtifactError(f"{path} names {name!r} as its vector matrix, which is not a file beside it; rebuild it")
    return name


def _load_matrix(path: Path, rows: int, dim: int, *, mmap: bool) -> np.ndarray:
    """The `rows` × `dim` float32 C-order matrix at `path`: mapped read-only with `mmap` (a plain ndarray
    view of the mapping, so nothing copies it), else read into memory."""
    try:
        loaded = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ArtifactError(f"cannot read vector matrix {path}: {exc}; rebuild it with `recsys build`") from exc
    if loaded.dtype != np.float32 or loaded.shape != (rows, dim) or not loaded.flags.c_contiguous:
        raise ArtifactError(f"{path} holds a {loaded.dtype} {loaded.shape} matrix"
                            f"{'' if loaded.flags.c_contiguous else ' in Fortran order'}, expected float32 "
                            f"({rows}, {dim}) in C order; rebuild it with `recsys build`")
    return np.asarray(loaded)
