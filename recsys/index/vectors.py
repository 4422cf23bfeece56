"""Vector tables stored as parquet: one row per key, a fixed-size float32 list, and a content hash.

The file's schema metadata records the model name and dimension, so a table can never be silently
mixed with vectors from another model.
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

    def save(self, path: Path) -> None:
        flat = pa.array(np.ascontiguousarray(self.vectors, dtype=np.float32).ravel(), type=pa.float32())
        table = pa.table(
            {
                "key": pa.array(self.keys.astype(str), type=pa.string()),
                "vector": pa.FixedSizeListArray.from_arrays(flat, self.dim),
                "text_hash": pa.array(self.hashes.astype(str), type=pa.string()),
            }
        )
        meta = json.dumps({"model": self.model, "dim": self.dim}).encode()
        pq.write_table(table.replace_schema_metadata({_META_KEY: meta}), path)

    @classmethod
    def load(cls, path: Path, *, expect_model: str | None = None, expect_dim: int | None = None) -> VectorTable:
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise ArtifactError(f"cannot read vector table {path}: {exc}") from exc
        raw = (table.schema.metadata or {}).get(_META_KEY)
        if raw is None:
            raise ArtifactError(f"{path} has no recsys vector metadata; rebuild it with `recsys build`")
        meta = json.loads(raw)
        if expect_model is not None and meta["model"] != expect_model:
            raise IndexMismatchError(
                f"{path} holds vectors of model {meta['model']!r}, expected {expect_model!r}; rebuild the index"
            )
        if expect_dim is not None and meta["dim"] != expect_dim:
            raise IndexMismatchError(f"{path} holds {meta['dim']}-d vectors, expected {expect_dim}; rebuild")
        dim = int(meta["dim"])
        col = table.column("vector").combine_chunks()
        vecs = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(-1, dim)
        return cls(
            keys=np.asarray(table.column("key").to_pylist(), dtype=object),
            vectors=vecs,
            hashes=np.asarray(table.column("text_hash").to_pylist(), dtype=object),
            model=meta["model"],
            dim=dim,
        )
