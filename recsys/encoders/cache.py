"""The encoder cache: model folders built once (e5 conversion, ONNX export) outside site-packages.

Layout: ``$RECSYS_CACHE_DIR`` (default ``~/.cache/recsys``) / ``<kind>`` / ``<key>`` /, one folder per
built artifact, each holding a ``recsys_cache.json`` marker that names what it was built from. A folder
whose marker does not match the current source (another package version, another weight hash, another
builder format) is stale and is rebuilt. Folders are built in a temporary sibling and renamed into place,
so a crash mid-build never leaves a half-written folder that looks valid.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from recsys.errors import EncoderError

__all__ = ["cache_root", "MARKER", "read_marker", "is_fresh", "ensure_folder", "prepare_hint"]

MARKER = "recsys_cache.json"
ENV_VAR = "RECSYS_CACHE_DIR"


def cache_root() -> Path:
    """Where built encoder folders live: ``$RECSYS_CACHE_DIR`` or ``~/.cache/recsys``."""
    env = os.environ.get(ENV_VAR, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "recsys"


def prepare_hint(encoder: str, engine: str) -> str:
    return f"run `recsys encoders prepare --encoder {encoder} --engine {engine}` to build it"


def read_marker(folder: Path) -> dict[str, object] | None:
    """The marker of a built folder, or None when the folder was never (completely) built."""
    path = folder / MARKER
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise EncoderError(f"the cache marker {path} is unreadable ({exc}); delete {folder} and rebuild") from exc
    if not isinstance(data, dict):
        raise EncoderError(f"the cache marker {path} is not a JSON object; delete {folder} and rebuild")
    return data


def is_fresh(folder: Path, source: Mapping[str, object]) -> bool:
    """True when `folder` was built completely from exactly `source` (every key must match)."""
    marker = read_marker(folder)
    return marker is not None and all(marker.get(k) == v for k, v in source.items())


def ensure_folder(
    folder: Path,
    source: Mapping[str, object],
    build: Callable[[Path], None],
    *,
    allow_build: bool = True,
    hint: str = "",
) -> Path:
    """Return `folder`, building it with ``build(tmp_dir)`` first when it is missing or stale.

    `build` writes the artifact's files into an empty temporary folder; the marker is written last and
    the folder is renamed into place. With ``allow_build=False`` a missing or stale folder is an error
    that tells the user how to prepare it.
    """
    if is_fresh(folder, source):
        return folder
    if not allow_build:
        state = "is stale (built from another source)" if folder.exists() else "does not exist"
        raise EncoderError(f"the encoder cache folder {folder} {state}; {hint or 'prepare it first'}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        build(tmp)
        tmp.chmod(0o755)  # mkdtemp creates 0700; the cache is shared like any model folder
        (tmp / MARKER).write_text(json.dumps(dict(source), indent=1, sort_keys=True), encoding="utf-8")
        if folder.exists():
            # Move the stale folder aside first: rename cannot replace a non-empty directory.
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
            os.replace(folder, old / "x")
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.replace(tmp, folder)
        except OSError:
            # Another process finished the same build first; keep its folder if it is complete.
            if not is_fresh(folder, source):
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
