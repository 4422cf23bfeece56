"""Index folders on disk: `INDEX_DIR/<version>/` immutable versions and an atomic `current` pointer.

A build writes into `INDEX_DIR/.tmp-<version>/`, renames it to `INDEX_DIR/<version>/` when complete,
then replaces the `current` symlink in one `rename(2)`, so a reader never sees a half-built index.

A killed build (SIGKILL, power loss) leaves its `.tmp-<version>/` behind; the next build of the same folder
removes it. Which leftovers are dead: while it writes, a build holds an exclusive `flock` on the sibling file
`.tmp-<version>.lock`, and the kernel drops that lock when the process dies, however it dies. A staging
folder whose lock file can be locked by someone else has no live writer and is removed. One without a lock
file (a build by an older recsys, or killed between creating the two) is removed only when nothing in it
has changed for `STALE_AFTER_S`, so a live build is never removed from under its writer.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from recsys.errors import ArtifactError
from recsys.index.manifest import MANIFEST_FILE, Manifest

__all__ = ["CURRENT", "STAGING_PREFIX", "STALE_AFTER_S", "new_version_name", "staging", "point_current",
           "resolve_version", "list_versions", "current_version", "rollback", "remove_stale_staging"]

CURRENT = "current"
STAGING_PREFIX = ".tmp-"
#: A staging folder without a lock file counts as abandoned after this long without a change inside it.
STALE_AFTER_S = 3600.0


def new_version_name(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y%m%dT%H%M%S") + f"-{uuid.uuid4().hex[:6]}"


@contextmanager
def staging(index_dir: Path, version: str) -> Iterator[Path]:
    """Yield a temp folder; on success it becomes `index_dir/version`, on error it is removed. Leftovers
    of killed builds in `index_dir` are removed first (see the module docstring)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(index_dir)
    tmp = index_dir / f"{STAGING_PREFIX}{version}"
    lock_path = _lock_file(tmp)
    # The lock is taken before the folder exists, so no cleaner ever sees this folder unlocked.
    lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        tmp.mkdir()
        try:
            yield tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        os.rename(tmp, index_dir / version)
    finally:
        lock_path.unlink(missing_ok=True)
        os.close(lock_fd)


def _lock_file(tmp: Path) -> Path:
    return tmp.with_name(tmp.name + ".lock")


def _newest_change(folder: Path) -> float:
    newest = folder.stat().st_mtime
    for path in folder.rglob("*"):
        try:
            newest = max(newest, path.lstat().st_mtime)
        except OSError:  # removed while we looked
            continue
    return newest


def _writer_is_dead(lock_path: Path) -> bool:
    """True when nobody holds the lock on `lock_path` (so its build is gone); keeps holding nothing."""
    try:
        fd = os.open(lock_path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing releases the lock if we took it
    return True


def remove_stale_staging(index_dir: Path, *, now: float | None = None) -> list[str]:
    """Remove the staging folders of dead builds in `index_dir` (rule: module docstring); return their names."""
    now = time.time() if now is None else now
    removed = []
    for tmp in sorted(index_dir.glob(f"{STAGING_PREFIX}*")):
        if not tmp.is_dir() or tmp.is_symlink():
            continue
        lock_path = _lock_file(tmp)
        if _writer_is_dead(lock_path) if lock_path.exists() else now - _newest_change(tmp) > STALE_AFTER_S:
            shutil.rmtree(tmp, ignore_errors=True)
            lock_path.unlink(missing_ok=True)
            removed.append(tmp.name)
    for lock_path in index_dir.glob(f"{STAGING_PREFIX}*.lock"):
        # A writer killed between creating its lock file and its folder; the minute of grace keeps a writer
        # that has created the file but not locked it yet from losing it.
        try:
            young = now - lock_path.stat().st_mtime < 60
        except OSError:
            continue
        if not young and not lock_path.with_suffix("").exists() and _writer_is_dead(lock_path):
            lock_path.unlink(missing_ok=True)
    return removed


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
    """Point `current` back at the parent of the current version (as its manifest records it), once its
    files verify, and return that version's name. The rolled-back-from version folder stays on disk, untouched."""
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
    target = Manifest.load(root / parent)
    try:
        target.verify(root / parent)
    except ArtifactError as exc:
        raise ArtifactError(f"cannot roll back {root} to {parent}: {exc}") from exc
    point_current(root, parent)
    return parent
