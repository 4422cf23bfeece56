"""Everything a built index version holds, loaded once into memory (the `Artifacts` bundle).

The bundle is immutable: every derived lookup (id maps, history slices, item features) is computed by
`load_artifacts` before construction, and live serving state lives outside it (`recsys.features.live`).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recsys.config import BlendConfig, parse_config, read_config_file
from recsys.data import schema as S
from recsys.errors import ArtifactError, ConfigError, IndexMismatchError
from recsys.features.hashed_ids import HashedIdMap, strings
from recsys.features.ids import IdMap
from recsys.features.items import FEATURE_FILES, ItemFeatures
from recsys.index import Manifest, VectorIndex, load_index, resolve_version
from recsys.index.hits import HIT_FILES, UserHits
from recsys.index.loader import shared_item_vectors
from recsys.index.vectors import VectorTable

if TYPE_CHECKING:
    from recsys.ranking.ltr.model import LearnedModel

__all__ = ["Artifacts", "FILES", "OPTIONAL_FILES", "POSITION", "WEIGHT", "history_slices", "load_artifacts"]

FILES = {
    "products": "products.parquet",
    "item_vectors": "item_vectors.parquet",
    "text_vectors": "text_vectors.parquet",
    "user_vectors": "user_vectors.parquet",
    "history": "history.parquet",
    **FEATURE_FILES,
    "index": "index.faiss",
    "config": "blend.json",
}
#: Present only in versions built with the learned ranker (its booster and its sidecar), or, in versions
#: served by the blend, each user's nearest items searched at build time; and in versions whose item
#: vectors are a `.npy` matrix beside item_vectors.parquet (memory-mapped when serving; older versions
#: keep the vectors in the parquet).
OPTIONAL_FILES = {"ltr_model": "ltr_model.txt", "ltr_meta": "ltr_model.json", **HIT_FILES,
                  "item_matrix": "item_vectors.npy"}
#: Extra columns of the stored history: the catalogue position and the signed profile weight of each event.
POSITION = "position"
WEIGHT = "weight"


def history_slices(history: pd.DataFrame) -> dict[str, slice]:
    """User → the slice of its rows in `history` (which must be sorted by user, stably)."""
    users = history[S.USER_ID].to_numpy(dtype=object)
    if not len(users):
        return {}
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    stops = np.r_[starts[1:], len(users)]
    return {users[a]: slice(int(a), int(b)) for a, b in zip(starts, stops, strict=True)}


@dataclass(frozen=True)
class Artifacts:
    root: Path
    manifest: Manifest
    #: The catalogue frame (row i is position i) when loaded with mmap=False; None when loaded for serving,
    #: which keeps only the compact columns requests read (`items`, `titles`, `features`): see `products`.
    held_products: pd.DataFrame | None
    items: IdMap  # product id ↔ catalogue position (a `HashedIdMap`: ids as a numpy StringDType array)
    features: ItemFeatures
    index: VectorIndex
    users: IdMap  # users with a profile vector ↔ rows of `user_vectors`
    user_vectors: np.ndarray
    history: pd.DataFrame  # train events + `position` (−1 product-less) + `weight`, sorted by user
    slices: dict[str, slice]  # user → rows of `history`
    config: BlendConfig
    titles: np.ndarray  # catalogue titles as a StringDType array (read on every request; missing: NaN)
    text_vectors: VectorTable | None = None
    ltr: LearnedModel | None = None  # the learned ranker's model when the version holds one
    hits: UserHits | None = None  # each user's nearest items searched at build time (`recsys.index.hits`)

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def products(self) -> pd.DataFrame:
        """The catalogue frame, row i at position i. A version loaded for serving does not hold it (at a
        million items its Arrow columns were ~100 MB of each worker's private memory, duplicating `items`
        and `titles`): it is read from products.parquet on every access, for paths that run rarely."""
        return self.held_products if self.held_products is not None else self.product_columns(None)

    def product_columns(self, columns: Sequence[str] | None) -> pd.DataFrame:
        """`columns` (None: all) of the catalogue frame; without a held frame, only they are read."""
        if self.held_products is not None:
            return self.held_products if columns is None else self.held_products[list(columns)]
        with _reading(self.root, FILES["products"]):
            return pd.read_parquet(self.root / FILES["products"], columns=None if columns is None else list(columns))

    def product_rows(self, positions: np.ndarray) -> pd.DataFrame:
        """The catalogue frame's rows at `positions` (`products.iloc[positions]`, index included), all
        columns; without a held frame, read from products.parquet and only these rows converted."""
        positions = np.asarray(positions, dtype=np.int64)
        if self.held_products is not None:
            return self.held_products.iloc[positions]
        with _reading(self.root, FILES["products"]):
            rows = pq.read_table(self.root / FILES["products"]).take(positions).to_pandas()
        rows.index = pd.RangeIndex(len(self.items))[positions]
        return rows

    @property
    def item_vectors(self) -> np.ndarray:
        return self.features.vectors

    @property
    def product_ids(self) -> np.ndarray:
        return self.items.ids

    @property
    def user_ids(self) -> np.ndarray:
        return self.users.ids

    def product_position(self, product_id: str) -> int | None:
        return self.items.row(product_id)

    def user_vector(self, user_id: str) -> np.ndarray | None:
        row = self.users.row(user_id)
        return None if row is None else self.user_vectors[row]

    def user_hits(self, user_id: str) -> np.ndarray | None:
        """The user's nearest items as the build searched them for their stored profile vector, or None."""
        row = self.users.row(user_id)
        return None if row is None or self.hits is None else self.hits.row(row)

    def knows_user(self, user_id: str) -> bool:
        return user_id in self.slices

    def user_history(self, user_id: str) -> pd.DataFrame:
        return self.history.iloc[self.slices.get(user_id, slice(0, 0))]

    @cached_property
    def _history_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self.history[POSITION].to_numpy(np.int64), self.history[WEIGHT].to_numpy(np.float64)

    def user_positions(self, user_id: str) -> tuple[np.ndarray, np.ndarray]:
        """The user's indexed history as (catalogue positions, profile weights): the two columns of
        `user_history` that ranking reads, without building a DataFrame."""
        pos, w = self._history_arrays
        at = self.slices.get(user_id, slice(0, 0))
        return pos[at], w[at]


#: What the readers of parquet, npz, JSON, FAISS and LightGBM files raise on a damaged file.
_UNREADABLE = (OSError, ValueError, RuntimeError, EOFError, KeyError, IndexError, zipfile.BadZipFile,
               pa.ArrowException, ConfigError)


@contextmanager
def _reading(root: Path, what: str, *more: type[Exception]) -> Iterator[None]:
    """Turn a reader's own exception for a damaged artifact (`_UNREADABLE`, or `more` for readers with their
    own error class) into the one `ArtifactError`, naming the file."""
    try:
        yield
    except ArtifactError:
        raise
    except (*_UNREADABLE, *more) as exc:
        raise ArtifactError(
            f"{root / what} cannot be read ({type(exc).__name__}: {exc}); rebuild it with `recsys build --data DIR "
            f"--index {root.parent}`, or point `current` at a good version (`recsys rollback --index {root.parent}`)"
        ) from exc


def load_artifacts(
    index_dir: str | Path,
    *,
    expect_encoder: str | None = None,
    expect_dim: int | None = None,
    config: BlendConfig | None = None,
    mmap: bool = False,
) -> Artifacts:
    """Load the version `index_dir` points to after verifying every file against its manifest (sizes and
    content hashes, see `Manifest.verify`); refuse a model or dimension mismatch. A damaged file raises
    `ArtifactError` naming it.

    `mmap` loads for serving: index and item vectors memory-mapped where their format allows, and the
    catalogue frame not held once its compact columns exist (`Artifacts.products` reads it on demand)."""
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
    manifest.verify(root)
    with _reading(root, FILES["item_vectors"]):
        item_vectors = VectorTable.load_vectors(root / FILES["item_vectors"], expect_model=enc.name,
                                                expect_dim=enc.dim, mmap=mmap)
    with _reading(root, FILES["user_vectors"]):
        user_table = VectorTable.load(root / FILES["user_vectors"], expect_model=enc.name, expect_dim=enc.dim)
    with _reading(root, FILES["text_vectors"]):
        texts = VectorTable.load(root / FILES["text_vectors"], expect_model=enc.name, expect_dim=enc.dim)
    with _reading(root, FILES["index"]):
        index = load_index(root / FILES["index"], manifest.index, mmap=mmap)
    if index.dim != enc.dim or len(index) != manifest.index.count:
        raise IndexMismatchError(
            f"{root / FILES['index']} holds {len(index)} × {index.dim} vectors, manifest says "
            f"{manifest.index.count} × {enc.dim}; the folder is inconsistent, rebuild it"
        )
    with _reading(root, FILES["products"]):
        products = pd.read_parquet(root / FILES["products"])
        # ids and titles as compact string arrays, not a Python object each (`recsys.features.hashed_ids`)
        items, titles = HashedIdMap.of(products[S.PRODUCT_ID]), strings(products[S.TITLE])
    if len(products) != len(item_vectors):
        raise ArtifactError(f"{root}: {len(products)} products but {len(item_vectors)} item vectors; rebuild")

    if config is None:
        with _reading(root, FILES["config"]):
            config = parse_config(read_config_file(root / FILES["config"]), str(root / FILES["config"]))
    with _reading(root, FILES["history"]):
        history = pd.read_parquet(root / FILES["history"])
        history = history.sort_values(S.USER_ID, kind="stable").reset_index(drop=True)
    feature_files = "{" + ",".join(sorted(FEATURE_FILES.values())) + "}"
    with _reading(root, feature_files):
        vectors = shared_item_vectors(index, item_vectors) if mmap else item_vectors
        features = ItemFeatures.load(root, products, vectors, seed=manifest.tiebreak_seed)
    ltr = None
    if OPTIONAL_FILES["ltr_model"] in manifest.files:
        import lightgbm  # lazy: lightgbm loads only for versions with a model

        from recsys.ranking.ltr.model import load_model

        with _reading(root, OPTIONAL_FILES["ltr_model"], lightgbm.basic.LightGBMError):
            ltr = load_model(root)
    hits = None
    if HIT_FILES["positions"] in manifest.files:
        with _reading(root, HIT_FILES["positions"]):
            hits = UserHits.load(root, len(user_table), len(products), mmap=mmap)
    return Artifacts(
        root=root,
        manifest=manifest,
        held_products=None if mmap else products,
        items=items,
        features=features,
        index=index,
        users=IdMap(user_table.keys),
        user_vectors=user_table.vectors,
        history=history,
        slices=history_slices(history),
        config=config,
        titles=titles,
        text_vectors=texts,
        ltr=ltr,
        hits=hits,
    )
