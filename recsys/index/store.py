"""Index folders on disk: `INDEX_DIR/<version>/` immutable versions and an atomic `current` pointer.

A build writes into `INDEX_DIR/.tmp-<version>/`, renames it to `INDEX_DIR/<version>/` when complete,
then replaces the `current` symlink in one `rename(2)`, so a reader never sees a half-built index.
"""

from __future__ import annotations

import os
import shutil
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from collections.abc import Iterator

from recsys.errors import ArtifactError
from recsys.index.manifest import MANIFEST_FILE

__all__ = ["CURRENT", "new_version_name", "staging", "point_current", "resolve_version", "list_versions"]

CURRENT = "current"


def new_version_name(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S") + f"-{uuid.uuid4().hex[:6]}"


@contextmanager
def staging(index_dir: Path, version: str) -> Iterator[Path]:
    """Yield a temp folder; on success it becomes `index_dir/version`, on error it is removed."""
    index_dir.mkdir(parents=True, exist_ok=True)
    tmp = index_dir / f".tmp-{version}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    os.rename(tmp, index_dir / version)


def point_current(index_dir: Path, version: str) -> None:
    if not (index_dir / version / MANIFEST_FILE).is_file():
        raise ArtifactError(f"cannot point {index_dir}/current at {version}: it has no manifest")
    tmp_link = index_dir / f".current-{uuid.uuid4().hex[:8]}"
    os.symlink(version, tmp_link)
    os.replace(tmp_link, index_dir / CURRENT)


def list_versions(index_dir: Path) -> list[str]:
    if not index_dir.is_dir():
        return []
    return sorted(p.name for p in index_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and p.name != CURRENT and (p / MANIFEST_FILE).is_file())


def resolve_version(index_dir: str | Path) -> Path:
    """Accept an index root (follows `current`) or a version folder; return the version folder."""
    root = Path(index_dir)
    if (root / MANIFEST_FILE).is_file():
        return root
    link = root / CURRENT
    if link.exists() and (link / MANIFEST_FILE).is_file():
        return root / os.readlink(link) if link.is_symlink() else link
    if not root.exists():
        raise ArtifactError(f"index folder {root} does not exist; build one with `recsys build --data DIR --index {root}`")
    raise ArtifactError(
        f"{root} holds no index (no manifest.json and no valid `current` pointer); "
        f"build one with `recsys build --data DIR --index {root}`"
    )
