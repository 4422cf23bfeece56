"""Item vectors decoded from an SQ8 index's codes: the view selects rows like an ndarray, is lent only when
the codes are the catalogue's vectors in catalogue order, and a build under a memory budget serves it."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from recsys.artifacts import load_artifacts
from recsys.build.pipeline import BuildOptions, build_index
from recsys.data.dataset import make_dataset
from recsys.encoders import make_encoder
from recsys.index.choose import IndexSpec, parse_bytes
from recsys.index.decoded import DecodedVectors, decode_error, matches_codes
from recsys.index.faiss_index import FaissIndex
from recsys.index.loader import shared_item_vectors
from recsys.recommender import Recommender

from ..conftest import tiny_frames


def _unit_rows(n: int, dim: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def sq8() -> tuple[FaissIndex, np.ndarray]:
    x = _unit_rows(300, 32)
    return FaissIndex.build(x, IndexSpec("HNSW8,SQ8", {"efSearch": 32}, train_size=300)), x


def test_the_view_selects_rows_as_an_ndarray_of_the_decoded_matrix_would(sq8):
    index, x = sq8
    view = shared_item_vectors(index, x)
    assert isinstance(view, DecodedVectors) and view.shape == (300, 32) and len(view) == 300
    full = np.asarray(view)
    assert full.dtype == np.float32 and full.shape == (300, 32)
    for key in (7, -1, np.int64(3), slice(10, 20), slice(None, None, -50), [4, 4, 0], np.array([[1, 2], [3, 299]]),
                np.arange(300) % 7 == 0, np.zeros(0, np.int64), (np.array([5, 6]), slice(2, 4))):
        np.testing.assert_array_equal(view[key], full[key])
    for bad in (300, -301, np.array([0, 300]), np.ones(5, bool)):
        with pytest.raises(IndexError):
            view[bad]
    with pytest.raises(ValueError, match="only as a copy"):
        np.asarray(view, copy=False)


def test_decoded_rows_are_within_half_a_quantization_step_and_close_in_cosine(sq8):
    index, x = sq8
    codes = index.sq8_codes()
    assert codes is not None and not codes.codes.flags.writeable
    # trained on every row, so nothing is clipped: each value is within half a step of its vector's
    assert decode_error(codes, x, np.arange(len(x))).max() <= 1.0001
    got = DecodedVectors(codes)[np.arange(len(x))]
    cos = (got * x).sum(axis=1) / np.linalg.norm(got, axis=1)
    assert cos.min() > 0.999


def test_the_view_is_lent_only_for_the_catalogues_vectors_in_catalogue_order(sq8):
    index, x = sq8
    reordered = x[::-1].copy()
    assert shared_item_vectors(index, reordered) is reordered
    moved = x.copy()
    moved[-1] = -moved[-1]  # the last sampled row is not what the index encoded
    assert shared_item_vectors(index, moved) is moved
    longer = np.vstack([x, x[:1]])
    assert shared_item_vectors(index, longer) is longer
    assert not matches_codes(index.sq8_codes(), x[:, :16].copy())
    assert FaissIndex.build(x, IndexSpec("Flat")).sq8_codes() is None


def test_the_view_keeps_the_index_alive():
    x = _unit_rows(100, 16, seed=1)
    index = FaissIndex.build(x, IndexSpec("SQ8", train_size=100))
    view = shared_item_vectors(index, x)
    before = view[np.arange(100)]
    del index
    gc.collect()
    np.testing.assert_array_equal(view[np.arange(100)], before)


@pytest.mark.parametrize("ranker", ["blend", "ltr"])
def test_a_build_under_a_memory_budget_serves_vectors_decoded_from_its_sq8_index(tmp_path: Path, ranker: str):
    products, events = tiny_frames()
    n = len(products)
    # a budget below the float32 vectors (n × 64 × 4 bytes) but above their 8-bit codes (n × 64)
    built = build_index(make_dataset(products, events, "t"), tmp_path / "idx", make_encoder("hashing-64"),
                        BuildOptions(progress=False, max_memory_bytes=n * 64 * 2, ranker=ranker))  # type: ignore[arg-type]
    assert built.manifest.index.factory == "SQ8"
    exact = load_artifacts(tmp_path / "idx")
    served = load_artifacts(tmp_path / "idx", mmap=True)
    assert isinstance(served.item_vectors, DecodedVectors)
    assert not isinstance(exact.item_vectors, DecodedVectors)
    got = np.asarray(served.item_vectors)
    cos = (got * exact.item_vectors).sum(axis=1) / np.linalg.norm(got, axis=1)
    assert cos.min() > 0.99
    assert (served.ltr is not None) == (ranker == "ltr")
    rec = Recommender(served)
    for user in served.user_ids.tolist():
        assert rec.for_user(str(user), k=3).results
    assert rec.similar_items(str(served.product_ids[0]), k=3).results


def test_memory_budgets_parse_as_a_command_line_writes_them():
    assert parse_bytes("800M") == 800 * 2**20 and parse_bytes("1.5g") == int(1.5 * 2**30)
    assert parse_bytes("1000000") == 1_000_000 and parse_bytes(" 2GB ") == 2 * 2**30
    for bad in ("", "M", "-1G", "1T", "lots", "nanG", "0"):
        with pytest.raises(ValueError, match="not a memory size"):
            parse_bytes(bad)


def test_build_refuses_a_memory_budget_it_cannot_read(tmp_path: Path):
    from recsys.cli.main import app

    result = CliRunner().invoke(app, ["build", "--data", str(tmp_path), "--index", str(tmp_path / "i"),
                                      "--max-index-memory", "lots"])
    assert result.exit_code == 2 and "not a memory size" in result.output
