"""Everything a built index version holds, loaded once into memory (the `Artifacts` bundle)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data import schema as S
from recsys.config import BlendConfig, parse_config
from recsys.errors import ArtifactError, IndexMismatchError
from recsys.index import Manifest, VectorIndex, load_index, resolve_version
from recsys.features.signals import ItemSignals
from recsys.index.vectors import VectorTable

if TYPE_CHECKING:
    from recsys.ranking.ltr.model import LearnedModel

__all__ = ["Artifacts", "FILES", "OPTIONAL_FILES", "load_artifacts"]

FILES = {
    "products": "products.parquet",
    "item_vectors": "item_vectors.parquet",
    "text_vectors": "text_vectors.parquet",
    "user_vectors": "user_vectors.parquet",
    "history": "history.parquet",
    "signals": "signals.parquet",
    "cooc": "cooc.npz",
    "index": "index.faiss",
    "config": "blend.json",
}
#: Present only in versions built with `--ranker ltr` (the learned ranker's booster and its sidecar).
OPTIONAL_FILES = {"ltr_model": "ltr_model.txt", "ltr_meta": "ltr_model.json"}
#: Extra column of the stored history: the signed profile weight of each event.
WEIGHT = "weight"
POSITION = "position"


@dataclass(frozen=True)
class Artifacts:
    root: Path
    manifest: Manifest
    products: pd.DataFrame  # catalogue order: row i is position i
    item_vectors: np.ndarray
    index: VectorIndex
    user_ids: np.ndarray  # users with a profile vector
    user_vectors: np.ndarray
    history: pd.DataFrame  # train events + `position` (−1 product-less) + `weight`
    signals: ItemSignals
    cooc: sp.csr_matrix
    config: BlendConfig
    text_vectors: VectorTable | None = None
    ltr: LearnedModel | None = None  # the learned ranker's model when the version holds one
    _user_row: dict[str, int] = field(default_factory=dict, repr=False)
    _history_slice: dict[str, slice] = field(default_factory=dict, repr=False)
    _product_pos: dict[str, int] = field(default_factory=dict, repr=False)
    #: Catalogue columns as arrays, read on every request (a pandas column access costs microseconds).
    titles: np.ndarray = field(init=False, repr=False)
    product_ids: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._user_row.update({u: i for i, u in enumerate(self.user_ids)})
        hist = self.history
        users = hist[S.USER_ID].to_numpy(dtype=object)
        if len(users) and not hist[S.USER_ID].is_monotonic_increasing:
            hist = hist.sort_values(S.USER_ID, kind="stable").reset_index(drop=True)
            object.__setattr__(self, "history", hist)
            users = hist[S.USER_ID].to_numpy(dtype=object)
        # Rows of one user are contiguous, so a user's history is a cheap slice, not a gather.
        if len(users):
            starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
            stops = np.r_[starts[1:], len(users)]
            self._history_slice.update({users[a]: slice(a, b) for a, b in zip(starts, stops, strict=True)})
        self._product_pos.update({p: i for i, p in enumerate(self.products[S.PRODUCT_ID])})
        object.__setattr__(self, "titles", self.products[S.TITLE].to_numpy(dtype=object))
        object.__setattr__(self, "product_ids", self.products[S.PRODUCT_ID].to_numpy(dtype=object))

    @property
    def version(self) -> str:
        return self.manifest.version

    def product_position(self, product_id: str) -> int | None:
        return self._product_pos.get(product_id)

    def user_vector(self, user_id: str) -> np.ndarray | None:
        row = self._user_row.get(user_id)
        return None if row is None else self.user_vectors[row]

    def knows_user(self, user_id: str) -> bool:
        return user_id in self._history_slice

    def user_history(self, user_id: str) -> pd.DataFrame:
        return self.history.iloc[self._history_slice.get(user_id, slice(0, 0))]


def load_artifacts(
    index_dir: str | Path,
    *,
    expect_encoder: str | None = None,
    expect_dim: int | None = None,
    config: BlendConfig | None = None,
    mmap: bool = False,
) -> Artifacts:
    """Load the version `index_dir` points to; refuse a model or dimension mismatch."""
    root = resolve_version(index_dir)
    manifest = Manifest.load(root)
    enc = manifest.encoder
    if expect_encoder is not None and expect_encoder != enc.name:
        raise IndexMismatchError(
            f"index {root} was built with encoder {enc.name!r} (dim {enc.dim}) but {expect_encoder!r} was requested; "
            f"rebuild with `recsys build --encoder {expect_encoder}` or use encoder {enc.name!r}"
        )
    if expect_dim is not None and expect_dim != enc.dim:
        raise IndexMismatchError(
            f"index {root} holds {enc.dim}-d vectors but the encoder produces {expect_dim}-d; rebuild the index"
        )
    for name in manifest.files:
        if not (root / name).is_file():
            raise ArtifactError(f"{root / name} is missing; the index folder is incomplete, rebuild it")
    items = VectorTable.load(root / FILES["item_vectors"], expect_model=enc.name, expect_dim=enc.dim)
    users = VectorTable.load(root / FILES["user_vectors"], expect_model=enc.name, expect_dim=enc.dim)
    texts = VectorTable.load(root / FILES["text_vectors"], expect_model=enc.name, expect_dim=enc.dim)
    index = load_index(root / FILES["index"], manifest.index, mmap=mmap)
    if index.dim != enc.dim or len(index) != manifest.index.count:
        raise IndexMismatchError(
            f"{root / FILES['index']} holds {len(index)} × {index.dim} vectors, manifest says "
            f"{manifest.index.count} × {enc.dim}; the folder is inconsistent, rebuild it"
        )
    products = pd.read_parquet(root / FILES["products"])
    if len(products) != len(items):
        raise ArtifactError(f"{root}: {len(products)} products but {len(items)} item vectors; rebuild")
    from recsys.ranking.ltr.model import load_model  # lazy: lightgbm loads only for index reads

    if config is None:
        config = parse_config(json.loads((root / FILES["config"]).read_text()), str(root / FILES["config"]))
    return Artifacts(
        root=root,
        manifest=manifest,
        products=products,
        item_vectors=items.vectors,
        index=index,
        user_ids=users.keys,
        user_vectors=users.vectors,
        history=pd.read_parquet(root / FILES["history"]),
        signals=ItemSignals.from_frame(pd.read_parquet(root / FILES["signals"])),
        cooc=sp.load_npz(root / FILES["cooc"]).tocsr(),
        config=config,
        text_vectors=texts,
        ltr=load_model(root) if OPTIONAL_FILES["ltr_model"] in manifest.files else None,
    )
