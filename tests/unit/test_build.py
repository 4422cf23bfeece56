from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from recsys import IndexMismatchError, make_dataset
from recsys.artifacts import load_artifacts
from recsys.build.pipeline import BuildOptions, build_index
from recsys.encoders import make_encoder
from recsys.index import Manifest, list_versions

from ..conftest import tiny_frames


def test_manifest_is_complete_and_verifies(tiny_index):
    root = tiny_index / os.readlink(tiny_index / "current")
    m = Manifest.load(root)
    assert m.encoder.name == "hashing-256" and m.encoder.dim == 256
    assert m.index.factory == "Flat" and m.index.count == 9 and m.index.recall_at_10 == 1.0
    assert m.data.n_products == 9 and m.data.n_users == 9 and m.data.n_users_with_profile == 8
    assert m.checksum == Manifest.checksum_of(m.files)
    m.verify(root)


def test_tampered_file_fails_verification(tmp_path):
    products, events = tiny_frames()
    res = build_index(make_dataset(products, events), tmp_path / "i", make_encoder("hashing-64"),
                      BuildOptions(progress=False))
    (res.path / "blend.json").write_text(json.dumps({"id": "tampered"}))
    from recsys.errors import ArtifactError

    with pytest.raises(ArtifactError, match="checksum"):
        Manifest.load(res.path).verify(res.path)


def test_model_or_dimension_mismatch_is_refused(tiny_index):
    with pytest.raises(IndexMismatchError, match="rebuild with `recsys build --encoder"):
        load_artifacts(tiny_index, expect_encoder="all-MiniLM-L6-v2")
    with pytest.raises(IndexMismatchError, match="384"):
        load_artifacts(tiny_index, expect_dim=384)


def test_rebuild_adds_a_version_and_moves_current(tmp_path):
    products, events = tiny_frames()
    ds = make_dataset(products, events)
    first = build_index(ds, tmp_path / "i", make_encoder("hashing-64"), BuildOptions(progress=False))
    second = build_index(ds, tmp_path / "i", make_encoder("hashing-64"), BuildOptions(progress=False))
    assert list_versions(tmp_path / "i") == sorted([first.manifest.version, second.manifest.version])
    assert os.readlink(tmp_path / "i" / "current") == second.manifest.version
    assert second.manifest.parent == first.manifest.version


def test_as_of_ignores_later_events(tmp_path):
    products, events = tiny_frames()
    res = build_index(make_dataset(products, events), tmp_path / "i", make_encoder("hashing-64"),
                      BuildOptions(progress=False, as_of=pd.Timestamp("2024-01-03", tz="UTC")))
    art = load_artifacts(res.path)
    assert art.history["timestamp"].max() <= pd.Timestamp("2024-01-03", tz="UTC")
    assert not art.knows_user("u_x3")  # only has events on day 4


def test_catalogue_without_events_or_titles_builds(tmp_path):
    products, _ = tiny_frames()
    products["title"] = ""
    res = build_index(make_dataset(products, None), tmp_path / "i", make_encoder("hashing-64"),
                      BuildOptions(progress=False))
    assert res.manifest.data.n_events == 0 and res.manifest.index.count == 9


def test_ratings_only_events_without_text_build(tmp_path):
    products, events = tiny_frames()
    events = events[events.product_id.notna()].drop(columns=["text"])
    events["event_type"] = "rating"
    res = build_index(make_dataset(products, events), tmp_path / "i", make_encoder("hashing-64"),
                      BuildOptions(progress=False))
    assert res.manifest.data.n_users_with_profile > 0
