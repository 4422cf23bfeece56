"""Incremental builds: reuse the parent version's vectors for texts whose hash did not change, and derive
the new index from the parent's when that is cheaper than building it again.

The parent is the version `current` points to. Its folder is only ever read: a derived index is a copy
made in memory and saved into the new version's folder.

Index positions are product rows, so an index cannot drop a product without renumbering every later one.
That shapes the strategies `choose_strategy` picks from (a pure function of counts and index type):

* ``rebuild``: reuse the vectors, build a fresh index. Always right; for ``Flat`` it is one copy of the
  vectors, which no in-place edit beats.
* ``append``: nothing was removed or changed, only products added: copy the parent index and add the new
  vectors at the end (the new catalogue order is the parent's, then the new products). Saves HNSW its
  graph build and IVF its training.
* ``reuse_quantizer``: few changes on a trained index (IVF, SQ): empty a copy of the parent index and refill
  it in catalogue order, skipping training (IVF/SQ codebooks still fit data that moved this little).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import faiss
import numpy as np

from recsys.artifacts import FILES, OPTIONAL_FILES
from recsys.encoders import Encoder, TextKind
from recsys.errors import ArtifactError
from recsys.index import FaissIndex, IndexSpec, Manifest
from recsys.index.faiss_index import add_batched, build_threads, search_threads
from recsys.index.store import current_version
from recsys.index.vectors import VectorTable
from recsys.text.builders import text_hashes

__all__ = [
    "IndexStrategy", "Previous", "ReusePlan", "choose_strategy", "plan_reuse", "load_previous",
    "encode_reusing", "derive_index", "APPEND_MAX_FRACTION", "REFILL_MAX_FRACTION",
]

IndexStrategy = Literal["full", "rebuild", "append", "reuse_quantizer"]

#: Appending more than this fraction of the parent's size to an HNSW graph or IVF lists costs about as
#: much as a rebuild and (for IVF) outgrows the trained centroids.
APPEND_MAX_FRACTION = 1.0
#: A trained index is refilled without retraining only when at most this fraction of vectors moved.
REFILL_MAX_FRACTION = 0.2


def _needs_training(factory: str) -> bool:
    return any(tag in factory for tag in ("IVF", "SQ", "PQ"))


def choose_strategy(n_parent: int, n_removed: int, n_added: int, parent_factory: str,
                    new_factory: str) -> IndexStrategy:
    """Pick how to derive the index. `n_removed` counts parent vectors leaving their slot (removed or
    changed products), `n_added` the vectors to insert (new or changed products)."""
    if min(n_parent, n_removed, n_added) < 0:
        raise ValueError(f"counts must be ≥ 0, got parent={n_parent}, removed={n_removed}, added={n_added}")
    if parent_factory != new_factory or n_parent == 0:
        return "rebuild"
    trained = _needs_training(new_factory)
    if n_removed == 0 and (trained or new_factory.startswith("HNSW")):
        if n_added <= (REFILL_MAX_FRACTION if trained else APPEND_MAX_FRACTION) * n_parent:
            return "append"
        return "rebuild"
    if trained and n_removed + n_added <= REFILL_MAX_FRACTION * n_parent:
        return "reuse_quantizer"
    return "rebuild"


@dataclass(frozen=True)
class ReusePlan:
    """Which products keep their parent vector, the catalogue order to build in, and the strategy."""

    order: np.ndarray  # permutation of the new catalogue rows: build in this order
    parent_row: np.ndarray  # per row of the *reordered* catalogue: its row in the parent, −1 if (re)encoded
    added: int
    removed: int
    changed: int
    strategy: IndexStrategy


def plan_reuse(parent_keys: Sequence[str], parent_hashes: Sequence[str], keys: Sequence[str],
               hashes: Sequence[str], parent_factory: str, new_factory: str) -> ReusePlan:
    """Compare the parent's (product id, text hash) pairs with the new catalogue's."""
    parent_pos = {k: i for i, k in enumerate(parent_keys)}
    rows = np.array([parent_pos.get(k, -1) for k in keys], dtype=np.int64)
    same = np.array([r >= 0 and parent_hashes[r] == h for r, h in zip(rows, hashes, strict=True)], dtype=bool)
    added = int((rows < 0).sum())
    changed = int(((rows >= 0) & ~same).sum())
    removed = len(parent_keys) - (len(keys) - added)
    strategy = choose_strategy(len(parent_keys), removed + changed, added + changed, parent_factory, new_factory)
    order = np.arange(len(keys))
    if strategy == "append":
        # Survivors in parent order first, so the copied parent index's positions stay valid.
        order = np.r_[np.flatnonzero(same)[np.argsort(rows[same], kind="stable")], np.flatnonzero(~same)]
    parent_row = np.where(same, rows, -1)[order]
    return ReusePlan(order, parent_row, added, removed, changed, strategy)


@dataclass(frozen=True)
class Previous:
    """The parent version, when its vectors can be reused (same encoder name, dimension and weights)."""

    root: Path
    manifest: Manifest
    items: VectorTable
    texts: VectorTable

    @property
    def index_path(self) -> Path:
        return self.root / FILES["index"]


def load_previous(index_dir: Path, encoder: Encoder) -> Previous | None:
    """The version `current` points to, or None when there is none or it was built with other weights
    (then nothing can be reused and the build is a full one, which its lineage records)."""
    version = current_version(index_dir)
    if version is None:
        return None
    root = index_dir / version
    manifest = Manifest.load(root)
    enc = manifest.encoder
    if (enc.name, enc.dim, enc.revision) != (encoder.name, encoder.dim, encoder.revision):
        return None
    try:  # the files a build copies from: a damaged parent must not leak into the new version
        matrix = [OPTIONAL_FILES["item_matrix"]] if OPTIONAL_FILES["item_matrix"] in manifest.files else []
        manifest.verify(root, [FILES["item_vectors"], *matrix, FILES["text_vectors"], FILES["index"]])
    except ArtifactError as exc:
        raise ArtifactError(f"{exc} (or build with --full, which reuses nothing from it)") from exc
    items = VectorTable.load(root / FILES["item_vectors"], expect_model=enc.name, expect_dim=enc.dim, mmap=True)
    texts = VectorTable.load(root / FILES["text_vectors"], expect_model=enc.name, expect_dim=enc.dim)
    return Previous(root, manifest, items, texts)


def encode_reusing(texts: list[str], kind: TextKind, encoder: Encoder, previous: VectorTable | None,
                   *, progress: bool = False) -> tuple[np.ndarray, int, int]:
    """Vectors for `texts`: copied from `previous` (matched by text hash) or encoded.
    Returns (vectors, distinct texts encoded, rows reused)."""
    out = np.zeros((len(texts), encoder.dim), np.float32)
    hit = np.zeros(len(texts), dtype=bool)
    if previous is not None and len(previous):
        row_of = {h: i for i, h in enumerate(previous.hashes)}
        rows = np.array([row_of.get(h, -1) for h in text_hashes(texts)], dtype=np.int64)
        hit = rows >= 0
        out[hit] = previous.vectors[rows[hit]]
    missing = [t for t, h in zip(texts, hit, strict=True) if not h]
    if missing:
        out[~hit] = encoder.encode(missing, kind=kind, progress=progress)
    return out, len(set(missing)), int(hit.sum())


def derive_index(plan: ReusePlan | None, vectors: np.ndarray, spec: IndexSpec, *, parent_index: Path | None = None,
                 parent_factory: str | None = None, seed: int = 0) -> FaissIndex:
    """The index for `vectors` (already in `plan.order`), derived from the parent index file when the plan
    says so and the chosen factory is still the parent's; otherwise built from scratch."""
    if plan is None or parent_index is None or plan.strategy not in ("append", "reuse_quantizer") \
            or parent_factory != spec.factory:
        return FaissIndex.build(vectors, spec, seed=seed)
    index = faiss.read_index(str(parent_index))
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if plan.strategy == "append":
        start = int(index.ntotal)
        if not np.array_equal(plan.parent_row[:start], np.arange(start)):
            return FaissIndex.build(vectors, spec, seed=seed)  # the parent index does not match its table
        x = x[start:]
    else:
        index.reset()  # keeps the trained centroids / codebooks
    with search_threads(build_threads()):  # a serving process runs faiss on one thread; a build uses all
        add_batched(index, x)
    return FaissIndex(index, spec)
