"""Each user's nearest items searched at build time (`recsys.index.hits`): stored with the version,
the index's own answers, and the same recommendations as a live search."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from recsys.errors import ArtifactError
from recsys.index.exact import ExactIndex
from recsys.index.hits import HIT_FILES, MAX_K, UserHits, hit_depths
from recsys.recommender import Recommender


def test_rows_are_the_index_answers_at_each_users_depth():
    rng = np.random.default_rng(0)
    items = rng.normal(size=(40, 8)).astype(np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    index = ExactIndex(items)
    users = rng.normal(size=(5, 8)).astype(np.float32)
    depths = np.array([3, 40, 1, 7, 0])
    hits = UserHits.search(index, users, depths)
    assert hits.offsets.tolist() == [0, 3, 43, 44, 51, 51]
    for r, d in enumerate(depths.tolist()):
        want = index.search(users[r : r + 1], max(d, 1))[1][0][:d]
        assert hits.row(r).tolist() == want.tolist()
    assert hit_depths(200, np.array([0, 5]), 1000).tolist() == [200 + MAX_K, 205 + MAX_K]
    assert hit_depths(200, np.array([0]), 50).tolist() == [50]


def test_tampered_rows_are_refused(tmp_path: Path):
    UserHits(np.array([1, 2, 3], np.int32), np.array([0, 2, 3], np.int64)).save(tmp_path)
    assert UserHits.load(tmp_path, 2, 4, mmap=True).row(0).tolist() == [1, 2]
    with pytest.raises(ArtifactError, match="rebuild"):
        UserHits.load(tmp_path, 3, 4)  # offsets for 2 users, not 3
    with pytest.raises(ArtifactError, match="over 3 items"):
        UserHits.load(tmp_path, 2, 3)  # position 3 outside a 3-item catalogue
    np.save(tmp_path / HIT_FILES["offsets"], np.array([0, 5, 3], np.int64))
    with pytest.raises(ArtifactError):
        UserHits.load(tmp_path, 2, 4)


def test_the_build_stores_hits_and_answers_match_a_live_search(tiny_index: Path):
    rec = Recommender.load(tiny_index)
    assert set(HIT_FILES.values()) <= set(rec.art.manifest.files)
    live = Recommender(replace(rec.art, hits=None), config=rec.config)
    for user in rec.art.user_ids.tolist():
        hits = rec.art.user_hits(user)
        assert hits is not None and len(hits) > 0
        a, b = rec.for_user(user, k=5), live.for_user(user, k=5)
        assert [r.product_id for r in a.results] == [r.product_id for r in b.results]
        assert [r.sources for r in a.results] == [r.sources for r in b.results]
