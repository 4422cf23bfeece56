"""The learned ranker end to end: `BuildOptions(ranker="ltr")` → index version with a model →
`Recommender` answers through `LearnedRanker` with per-feature contributions in `parts`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from recsys.build.pipeline import BuildOptions, build_index
from recsys.data.dataset import make_dataset
from recsys.encoders import make_encoder
from recsys.ranking.base import Filters
from recsys.ranking.blend_ranker import BlendRanker
from recsys.ranking.ltr.candidates import SOURCES
from recsys.ranking.ltr.ranker import LearnedRanker
from recsys.recommender import Recommender
from tests.unit.ltr_data import sequence_frames


@pytest.fixture(scope="module")
def ltr_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    products, events = sequence_frames(n_users=120, length=5, seed=3)
    out = tmp_path_factory.mktemp("ltr") / "seq"
    build_index(make_dataset(products, events, "seq"), out, make_encoder("hashing-256"),
                BuildOptions(progress=False, ranker="ltr"))
    return out


def test_build_saves_the_model_in_the_version_and_manifest(ltr_index: Path):
    rec = Recommender.load(ltr_index)
    assert isinstance(rec.ranker.ranker, LearnedRanker) and rec.ranker.name == "ltr"
    assert rec.art.manifest.ranker.kind == "ltr"
    assert {"ltr_model.txt", "ltr_model.json"} <= set(rec.art.manifest.files)
    assert rec.art.ltr.meta["train_users"] > 0


def test_answers_follow_the_sequence_and_explain_with_contributions(ltr_index: Path):
    rec = Recommender.load(ltr_index)
    user = "u000"
    hist = rec.art.user_history(user)["product_id"].tolist()
    answer = rec.for_user(user, k=5)
    ids = [r.product_id for r in answer.results]
    assert not set(ids) & set(hist)
    last = int(hist[-1][1:])
    assert ids[0] == f"p{(last + 1) % 12:02d}"
    top = answer.results[0]
    assert "knn_recent" in top.parts and "bias" in top.parts
    assert sum(top.parts.values()) == pytest.approx(top.score, abs=1e-3)
    assert top.sources and set(top.sources) <= set(SOURCES) and "next" in top.sources


def test_filters_apply_and_popular_falls_back_to_the_blend(ltr_index: Path):
    rec = Recommender.load(ltr_index)
    answer = rec.for_user("u001", k=10, filters=Filters(category="Books"))
    assert answer.results and all(rec.art.products.set_index("product_id").loc[r.product_id, "category"]
                                  .startswith("Books") for r in answer.results)
    popular = rec.popular(k=3)
    assert len(popular.results) == 3 and "popularity" in popular.results[0].parts


def test_an_index_without_a_model_keeps_the_blend(tiny_rec):
    assert tiny_rec.art.ltr is None
    assert isinstance(tiny_rec.ranker.ranker, BlendRanker) and tiny_rec.ranker.fallback is None
    assert np.isfinite([r.score for r in tiny_rec.for_user("u_coffee", k=3).results]).all()


def test_cli_build_with_ranker_ltr_answers_with_the_model(tmp_path: Path):
    products, events = sequence_frames(n_users=120, length=5, seed=3)
    data = tmp_path / "seq"
    data.mkdir()
    products.to_parquet(data / "products.parquet", index=False)
    events.to_parquet(data / "events.parquet", index=False)
    idx = tmp_path / "idx"
    run = lambda *a: subprocess.run([sys.executable, "-m", "recsys.cli.main", *a], capture_output=True,  # noqa: E731
                                    text=True, timeout=300)
    b = run("build", "--data", str(data), "--index", str(idx), "--encoder", "hashing-256", "--quiet", "--ranker", "ltr")
    assert b.returncode == 0, b.stderr
    r = run("recommend", "--index", str(idx), "--user", "u000", "-k", "3", "--json")
    assert r.returncode == 0, r.stderr
    top = json.loads(r.stdout)["results"][0]
    assert "knn_recent" in top["parts"] and "bias" in top["parts"]
    bad = run("build", "--data", str(data), "--index", str(tmp_path / "bad"), "--encoder", "hashing-256",
              "--quiet", "--ranker", "nope")
    assert bad.returncode == 2 and "nope" in bad.stderr


def test_learned_ranker_honours_diversity(ltr_index: Path):
    rec = Recommender.load(ltr_index)
    plain = rec.for_user("u002", k=5)
    diverse = rec.with_config(rec.config.with_updates(mmr_lambda=0.05)).for_user("u002", k=5)
    assert diverse.results and len(diverse.results) == 5
    assert [r.product_id for r in diverse.results] != [r.product_id for r in plain.results]
    vec = rec.art.item_vectors

    def spread(ans):  # mean pairwise cosine of the shown items: lower is more diverse
        pos = [rec.art.product_position(r.product_id) for r in ans.results]
        m = vec[pos] @ vec[pos].T
        return float((m.sum() - np.trace(m)) / (len(pos) * (len(pos) - 1)))

    assert spread(diverse) < spread(plain)


def test_learned_ranker_reads_live_popularity(ltr_index: Path):
    import pandas as pd

    from recsys.features.live import LiveSignals

    art = Recommender.load(ltr_index).art
    live = LiveSignals(art.features.signals, art.items, art.features.tiebreak)
    rec = Recommender(art, live=live)
    model, seen = art.ltr, []

    class Spy:  # records the popularity feature the model is given
        features, candidates = model.features, model.candidates

        def predict(self, x):
            seen.append(dict(zip(cands_of[-1], x[:, model.features.index("popularity")].tolist(), strict=True)))
            return model.predict(x)

        def contributions(self, x):
            return model.contributions(x)

    cands_of: list[list[int]] = []  # the candidates of each call, in the order the model scores them
    rec.ranker.ranker.model = Spy()
    import recsys.ranking.ltr.ranker as lr

    real_filter = lr.filter_mask

    def filter_spy(cand, *args):
        keep = real_filter(cand, *args)
        cands_of.append(cand[keep].tolist())
        return keep

    lr.filter_mask = filter_spy
    try:
        rec.for_user("u003", k=10)
        target = max(seen[-1], key=lambda p: -seen[-1][p])  # the least popular candidate
        burst = pd.DataFrame({"user_id": [f"fan{i}" for i in range(200)], "product_id": art.product_ids[target],
                              "event_type": "purchase", "timestamp": pd.Timestamp("2030-01-01", tz="UTC"),
                              "rating": np.nan, "text": ""})
        live.apply(burst)
        rec.for_user("u003", k=10)
    finally:
        lr.filter_mask = real_filter
    assert seen[-1][target] > seen[0][target]
    assert seen[-1][target] == pytest.approx(float(live.signals.popularity[target]))
    assert float(art.features.signals.popularity[target]) == pytest.approx(seen[0][target])


def test_auto_choice_leaves_the_learned_ranker_out_above_the_catalogue_cap(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch):
    import recsys.build.select as select

    products, events = sequence_frames(n_users=120, length=5, seed=3)
    monkeypatch.setattr(select, "AUTO_LTR_MAX_ITEMS", len(products) - 1)
    out = tmp_path / "seq"
    build_index(make_dataset(products, events, "seq"), out, make_encoder("hashing-256"),
                BuildOptions(progress=False, ranker="auto"))
    info = Recommender.load(out).art.manifest.ranker
    assert info.kind == "blend" and info.chosen_by == "validation"
    assert "ltr" not in info.candidates and "learned ranker not trained" in info.detail
    assert {"blend", "blend_tuned"} <= set(info.candidates)
