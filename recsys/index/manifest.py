"""The typed, versioned manifest that makes an index folder self-describing, and the check that a version's
files are still the ones its build wrote.

Every load verifies (`Manifest.verify`): each file's size always, and its content hash. The hash is xxh3-128
(schema 3; several GB/s, so a load can afford it) or sha256 for entries of older schema-2 manifests. A
digest is cached per file identity and state, (device, inode, size, mtime_ns, ctime_ns), so loading the same
unchanged version again in one process does not rehash it, while any rewrite, truncation or replacement
(new inode, or a new ctime, which no user call can set back) misses the cache and is hashed again.
xxh3 detects accidental or partial rewrites, not a forger who can also rewrite manifest.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path

import xxhash
from pydantic import BaseModel, ConfigDict, ValidationError

from recsys.errors import ArtifactError

__all__ = ["Manifest", "EncoderInfo", "IndexInfo", "DataInfo", "Lineage", "RankerInfo", "TrialInfo", "MANIFEST_FILE",
           "SCHEMA_VERSION", "READABLE_SCHEMAS", "file_digest", "file_sha256", "verify_file"]

MANIFEST_FILE = "manifest.json"
#: 2: stored item features gained transitions (trans.npz) and ages; the manifest records the ranker.
#: 3: a file entry is "xxh3_128:<size>:<hex>" (size and fast hash) instead of a bare sha256.
SCHEMA_VERSION = 3
#: Schema 2 manifests differ only in their file entries (bare sha256 hex), which `verify` still checks.
READABLE_SCHEMAS = (2, 3)
FAST_HASH = "xxh3_128"
_BLOCK = 4 << 20


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EncoderInfo(_Frozen):
    name: str
    dim: int
    revision: str
    engine: str


class TrialInfo(_Frozen):
    """One auto-tuning measurement (see recsys.index.autotune): recall@10 vs exact and 1-thread QPS, and the
    build of the index it was measured on. The build fields are None in manifests written before they
    were recorded."""

    factory: str
    search_params: dict[str, int] = {}
    #: "sample" (family choice on a sample), "full" (parameter ladder on the built index) or "items" (the
    #: ladder for item-to-item queries).
    stage: str
    n: int
    recall_at_10: float
    qps: float
    est_bytes: int
    train_s: float | None = None  # training (k-means, quantizer ranges)
    add_s: float | None = None  # adding the n vectors (encoding, list assignment, graph linking)
    build_s: float | None = None  # train_s + add_s
    bytes: int | None = None  # what the built index holds (its serialized size)


class IndexInfo(_Frozen):
    factory: str
    metric: str = "inner_product"
    normalized: bool = True
    count: int
    search_params: dict[str, int] = {}
    recall_at_10: float
    recall_queries: int
    build_seconds: float
    #: Distinct vectors actually indexed; None (older manifests) or == count when nothing was deduplicated.
    unique_count: int | None = None
    #: File mapping unique index rows back to catalogue positions (present only when vectors repeat).
    groups_file: str | None = None
    #: Single-query QPS on one thread, measured at build time with the final search parameters.
    qps: float | None = None
    target_recall: float | None = None
    target_met: bool | None = None
    tuning: list[TrialInfo] = []
    #: Why the auto-tuner chose this family over the other candidates (see recsys.index.choose.prefer).
    choice: str | None = None
    #: Bytes the index file holds, and the OpenMP threads it was built on.
    bytes: int | None = None
    build_threads: int | None = None
    #: Search parameters for item-to-item queries (similar items), tuned for `target_recall` on catalogue
    #: items as queries; empty (older manifests, exact indexes): `search_params`.
    item_search_params: dict[str, int] = {}
    item_recall_at_10: float | None = None


class DataInfo(_Frozen):
    source: str
    fingerprint: str
    n_products: int
    n_events: int
    n_users: int
    n_users_with_profile: int
    as_of: str


class Lineage(_Frozen):
    """How this version was derived from its parent (see recsys.build.incremental)."""

    #: "full" (everything encoded, fresh index), "rebuild" (reused vectors, fresh index),
    #: "append" (parent index copied, new vectors added), "reuse_quantizer" (parent's trained index refilled).
    strategy: str = "full"
    reused_vectors: int = 0  # product and event-text vectors copied from the parent
    encoded: int = 0  # distinct texts encoded for this version
    added: int = 0  # products not in the parent
    removed: int = 0  # parent products no longer in the catalogue
    changed: int = 0  # products whose text hash changed


class RankerInfo(_Frozen):
    """Which ranker the version serves and why: `requested` by the build's options, or chosen on a
    validation slice (`candidates` then holds each candidate's validation metrics)."""

    kind: str = "blend"
    chosen_by: str = "requested"
    metric: str | None = None
    candidates: dict[str, dict[str, float]] = {}
    detail: str = ""


class Manifest(_Frozen):
    schema_version: int = SCHEMA_VERSION
    name: str
    version: str
    created_at: str
    build_seconds: float
    encoder: EncoderInfo
    index: IndexInfo
    data: DataInfo
    blend_config_id: str
    encode_texts_per_s: float
    files: dict[str, str]  # file name -> "xxh3_128:<size>:<hex>" (schema 2: a bare sha256 hex)
    checksum: str  # sha256 over the sorted (name, entry) pairs
    parent: str | None = None
    lineage: Lineage = Lineage()
    ranker: RankerInfo = RankerInfo()
    #: Seed of the random order that breaks score ties (never the product id order).
    tiebreak_seed: int = 0

    def save(self, folder: Path) -> None:
        (folder / MANIFEST_FILE).write_text(self.model_dump_json(indent=2), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST_FILE
        if not path.is_file():
            raise ArtifactError(f"{folder} has no {MANIFEST_FILE}; it is not an index version folder")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:  # unreadable, not UTF-8 or not JSON
            raise ArtifactError(f"{path} cannot be read as JSON ({exc}); {_fix(folder)}") from exc
        if not isinstance(data, dict):
            raise ArtifactError(f"{path} holds a JSON {type(data).__name__}, not a manifest object; {_fix(folder)}")
        if data.get("schema_version") not in READABLE_SCHEMAS:
            raise ArtifactError(
                f"{path} has manifest schema {data.get('schema_version')}, this recsys reads "
                f"{', '.join(map(str, READABLE_SCHEMAS))}; rebuild the index with this version"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ArtifactError(f"{path} is not a valid manifest: {exc.errors()[0]['msg']}; {_fix(folder)}") from exc

    @staticmethod
    def checksum_of(files: dict[str, str]) -> str:
        h = hashlib.sha256()
        for name in sorted(files):
            h.update(f"{name}\0{files[name]}\n".encode())
        return h.hexdigest()

    def verify(self, folder: Path, names: Iterable[str] | None = None) -> None:
        """Raise `ArtifactError` unless the file list matches `checksum` and every file in it (or only
        `names`) is present with its recorded size and content hash."""
        if Manifest.checksum_of(self.files) != self.checksum:
            raise ArtifactError(f"{folder / MANIFEST_FILE}: its file list does not match its checksum (the "
                                f"manifest was edited after the build); {_fix(folder)}")
        for name in sorted(self.files) if names is None else names:
            if name not in self.files:
                raise ArtifactError(f"{folder / MANIFEST_FILE} does not list {name}; {_fix(folder)}")
            if Path(name).name != name or name in (".", ".."):
                raise ArtifactError(f"{folder / MANIFEST_FILE} lists {name!r}, which is not a file of the "
                                    f"version folder; {_fix(folder)}")
            verify_file(folder / name, self.files[name], fix=_fix(folder))


def _fix(folder: Path) -> str:
    root = folder.parent
    return (f"rebuild it with `recsys build --data DIR --index {root}`, or point `current` at a good version "
            f"(`recsys rollback --index {root}`)")


def _hash_file(path: Path, algo: str) -> str:
    """Read the whole file once and hash it (the only place that reads artifact bytes to verify them)."""
    h = xxhash.xxh3_128() if algo == FAST_HASH else hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


_cache: dict[tuple[int, int, int, int, int, str], str] = {}
_cache_lock = threading.Lock()
_CACHE_MAX = 4096


def _cached_hash(path: Path, st: os.stat_result, algo: str) -> str:
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, algo)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    digest = _hash_file(path, algo)
    with _cache_lock:
        if len(_cache) >= _CACHE_MAX:
            _cache.pop(next(iter(_cache)))  # the oldest entry; versions loaded long ago go first
        _cache[key] = digest
    return digest


def file_digest(path: Path) -> str:
    """The schema-3 manifest entry of a file: "xxh3_128:<size>:<hex>"."""
    st = path.stat()
    return f"{FAST_HASH}:{st.st_size}:{_cached_hash(path, st, FAST_HASH)}"


def file_sha256(path: Path) -> str:
    """The schema-2 manifest entry of a file: its bare sha256 hex."""
    return _hash_file(path, "sha256")


def _parse_entry(entry: str) -> tuple[str, int | None, str]:
    """(algorithm, size or None, hex digest) of a manifest file entry of either schema."""
    parts = entry.split(":")
    if len(parts) == 1:
        return "sha256", None, entry
    if len(parts) == 3 and parts[0] == FAST_HASH and parts[1].isdigit():
        return FAST_HASH, int(parts[1]), parts[2]
    raise ValueError(f"unrecognised file entry {entry!r}")


def verify_file(path: Path, entry: str, *, fix: str = "rebuild the index") -> None:
    """Raise `ArtifactError` naming `path` unless it exists with the size and hash `entry` records."""
    try:
        algo, size, digest = _parse_entry(entry)
    except ValueError as exc:
        raise ArtifactError(f"{path}: the manifest's checksum entry is not readable ({exc}); {fix}") from exc
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ArtifactError(f"{path} is missing; the index folder is incomplete: {fix}") from None
    except OSError as exc:
        raise ArtifactError(f"{path} cannot be read ({exc}); {fix}") from exc
    if not path.is_file():
        raise ArtifactError(f"{path} is not a regular file; {fix}")
    if size is not None and st.st_size != size:
        raise ArtifactError(f"{path} does not match its checksum in the manifest: it holds {st.st_size:,} bytes, "
                            f"the build wrote {size:,} (truncated or rewritten); {fix}")
    try:
        found = _cached_hash(path, st, algo)
    except OSError as exc:
        raise ArtifactError(f"{path} cannot be read ({exc}); {fix}") from exc
    if found != digest:
        raise ArtifactError(f"{path} does not match its checksum in the manifest ({algo} {found[:16]}…, the "
                            f"build recorded {digest[:16]}…): its content was rewritten after the build; {fix}")
