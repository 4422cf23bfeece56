"""Index folders on disk: `INDEX_DIR/<version>/` immutable versions and an atomic `current` pointer.

A build writes into `INDEX_DIR/.tmp-<version>/`, renames it to `INDEX_DIR/<version>/` when complete,
then replaces the `current` symlink in one `rename(2)`, so a reader never sees a half-built index.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from recsys.errors import ArtifactError
from recsys.index.manifest import MANIFEST_FILE, Manifest

__all__ = ["CURRENT", "new_version_name", "staging", "point_current", "resolve_version", "list_versions",
           "current_version", "rollback"]

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
        raise ArtifactError(
            f"index folder {root} does not exist; build one with `recsys build --data DIR --index {root}`"
        )
    raise ArtifactError(
        f"{root} holds no index (no manifest.json and no valid `current` pointer); "
        f"build one with `recsys build --data DIR --index {root}`"
    )


def current_version(index_dir: Path) -> str | None:
    """The version `current` points to, or None when the folder has no valid `current` yet."""
    link = Path(index_dir) / CURRENT
    if not link.is_symlink() or not (link / MANIFEST_FILE).is_file():
        return None
    return os.readlink(link)


def rollback(index_dir: str | Path) -> str:
    """Point `current` back at the parent of the current version (as its manifest records it) and return
    that version's name. The rolled-back-from version folder stays on disk, untouched."""
    root = Path(index_dir)
    now = current_version(root)
    if now is None:
        raise ArtifactError(f"{root} has no valid `current` pointer, so there is nothing to roll back; "
                            f"build one with `recsys build --data DIR --index {root}`")
    parent = Manifest.load(root / now).parent
    if parent is None:
        raise ArtifactError(f"version {now} in {root} has no parent (it was the first build in this folder); "
                            "there is no earlier version to roll back to")
    if not (root / parent / MANIFEST_FILE).is_file():
        raise ArtifactError(f"the parent of {now}, {parent}, is no longer in {root} (deleted?); point `current` "
                            f"at one of {list_versions(root)} instead")
    point_current(root, parent)
    return parent
