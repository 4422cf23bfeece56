"""The encode stage: product texts and distinct event texts to vectors, reusing a parent version's
vectors for unchanged texts."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from recsys.build.incremental import Previous, encode_reusing
from recsys.data import schema as S
from recsys.data.dataset import Dataset
from recsys.encoders import Encoder
from recsys.text.builders import product_texts, text_hashes

__all__ = ["EncodedData", "encode_dataset"]


@dataclass(frozen=True)
class EncodedData:
    """Product and event-text vectors of a dataset, aligned with its rows."""

    item_vectors: np.ndarray
    item_hashes: list[str]
    text_keys: np.ndarray  # unique text hashes
    text_vectors: np.ndarray
    event_text_row: np.ndarray  # per event row: row in text_vectors, −1 when the event has no text
    texts_encoded: int
    encode_seconds: float
    #: Product and event-text vectors copied from the previous version instead of encoded.
    vectors_reused: int = 0


def encode_dataset(ds: Dataset, encoder: Encoder, *, progress: bool = False,
                   previous: Previous | None = None) -> EncodedData:
    t0 = time.perf_counter()
    ptexts = product_texts(ds.products)
    item_vecs, n_items, r_items = encode_reusing(ptexts, "passage", encoder, previous.items if previous else None,
                                                 progress=progress)
    etexts = ds.events[S.TEXT].fillna("").astype(str).str.strip()
    has = (etexts != "").to_numpy()
    uniq = list(dict.fromkeys(etexts[has].tolist()))
    text_vecs, n_texts, r_texts = encode_reusing(uniq, "query", encoder, previous.texts if previous else None,
                                                 progress=progress)
    row_of = {t: i for i, t in enumerate(uniq)}
    event_row = np.array([row_of[t] if h else -1 for t, h in zip(etexts.tolist(), has, strict=True)], np.int64)
    return EncodedData(
        item_vectors=item_vecs,
        item_hashes=text_hashes(ptexts),
        text_keys=np.asarray(text_hashes(uniq), dtype=object),
        text_vectors=text_vecs.reshape(len(uniq), encoder.dim),
        event_text_row=event_row,
        texts_encoded=n_items + n_texts,
        encode_seconds=time.perf_counter() - t0,
        vectors_reused=r_items + r_texts,
    )
