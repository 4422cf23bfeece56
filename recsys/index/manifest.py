"""The typed, versioned manifest that makes an index folder self-describing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from recsys.errors import ArtifactError

__all__ = ["Manifest", "EncoderInfo", "IndexInfo", "DataInfo", "Lineage", "RankerInfo", "TrialInfo", "MANIFEST_FILE",
           "SCHEMA_VERSION", "file_sha256"]

MANIFEST_FILE = "manifest.json"
#: 2: stored item features gained transitions (trans.npz) and ages; the manifest records the ranker.
SCHEMA_VERSION = 2


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EncoderInfo(_Frozen):
    name: str
    dim: int
    revision: str
    engine: str


class TrialInfo(_Frozen):
    """One auto-tuning measurement (see recsys.index.autotune): recall@10 vs exact and 1-thread QPS."""

    factory: str
    search_params: dict[str, int] = {}
    stage: str  # "sample" (family choice on a sample) or "full" (parameter ladder on the built index)
    n: int
    recall_at_10: float
    qps: float
    est_bytes: int


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
    files: dict[str, str]  # file name -> sha256
    checksum: str  # sha256 over the sorted (name, sha256) pairs
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
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"{path} is not valid JSON ({exc}); rebuild with `recsys build`") from exc
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ArtifactError(
                f"{path} has manifest schema {data.get('schema_version')}, this recsys reads {SCHEMA_VERSION}; "
                "rebuild the index with this version"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ArtifactError(f"{path} is not a valid manifest: {exc.errors()[0]['msg']}") from exc

    @staticmethod
    def checksum_of(files: dict[str, str]) -> str:
        h = hashlib.sha256()
        for name in sorted(files):
            h.update(f"{name}\0{files[name]}\n".encode())
        return h.hexdigest()

    def verify(self, folder: Path) -> None:
        """Recompute every file hash; raise if any file is missing or changed."""
        for name, digest in self.files.items():
            path = folder / name
            if not path.is_file():
                raise ArtifactError(f"{path} is missing; the index folder is incomplete, rebuild it")
            if file_sha256(path) != digest:
                raise ArtifactError(f"{path} does not match its checksum in the manifest; rebuild the index")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
