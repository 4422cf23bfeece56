"""Give an index version built before `item_vectors.npy` existed its item vector matrix, in place.

    python benchmarks/upgrade_item_matrix.py /tmp/b1m-npy/auto/current

Versions built since store the item vectors as a float32 `.npy` matrix beside a keys-and-hashes
item_vectors.parquet (memory-mapped and shared by `recsys serve` workers); older versions keep them in
the parquet and load as before, each process with its own copy. This rewrites a version the way a build
writes it: the same `VectorTable.save(..., matrix=...)` call, and every file's digest and the checksum
recorded again in its manifest. For a copy of a large version that is slow to rebuild (version folders
are otherwise never modified); the version is verified against its manifest first.
"""

from __future__ import annotations

import sys
from pathlib import Path

from recsys.artifacts import FILES, OPTIONAL_FILES
from recsys.index import Manifest, resolve_version
from recsys.index.manifest import MANIFEST_FILE, file_digest
from recsys.index.vectors import VectorTable


def upgrade(version: Path) -> bool:
    """Write the matrix of `version` unless it has one; True when it was written."""
    manifest = Manifest.load(version)
    if OPTIONAL_FILES["item_matrix"] in manifest.files:
        return False
    manifest.verify(version)
    path = version / FILES["item_vectors"]
    enc = manifest.encoder
    VectorTable.load(path, expect_model=enc.name, expect_dim=enc.dim).save(
        path, matrix=version / OPTIONAL_FILES["item_matrix"])
    files = {p.name: file_digest(p) for p in sorted(version.iterdir()) if p.name != MANIFEST_FILE}
    manifest.model_copy(update={"files": files, "checksum": Manifest.checksum_of(files)}).save(version)
    return True


if __name__ == "__main__":
    root = resolve_version(sys.argv[1])
    print(f"{root}: {'matrix written' if upgrade(root) else 'already has its matrix'}")
