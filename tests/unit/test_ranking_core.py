"""One ranking core: the CLI and the HTTP API resolve `diversity` the same way and answer identically;
the evaluation's exact blend scores what the served ranker scores; ties follow the seeded order, not ids."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from recsys.config import BlendCatalog, diversity_lambda
from recsys.data.dataset import make_dataset
from recsys.encoders import make_encoder
from recsys.evaluation.blend_scorers import BlendScorer
from recsys.evaluation.data import build_eval_data
from recsys.features.ids import IdMap
from recsys.features.items import popular_order, tiebreak_ranks
from recsys.recommender import Recommender
from recsys.service import Settings, create_app
from tests.conftest import tiny_frames


def _cli_recommend(index: Path, user: str, *extra: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "recsys.cli.main", "recommend", "--index", str(index), "--user", user,
                          "-k", "5", "--json", *extra], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("diversity", ["1", "0.5"])
def test_cli_and_http_answer_diversity_identically(tiny_index: Path, tmp_path: Path, diversity: str):
    cli = _cli_recommend(tiny_index, "u_coffee", "--diversity", diversity)
    settings = Settings(index=tiny_index, events_db=tmp_path / "ev.db")
    with TestClient(create_app(settings)) as c:
        http = c.get("/v1/users/u_coffee/recommendations", params={"k": 5, "diversity": diversity}).json()
    assert [r["product_id"] for r in cli["results"]] == [r["product_id"] for r in http["results"]]
    assert [r["score"] for r in cli["results"]] == pytest.approx([r["score"] for r in http["results"]])
    assert cli["config_id"] == http["config_id"]


def test_diversity_maps_to_one_lambda_everywhere():
    from recsys.config import BlendConfig

    assert diversity_lambda(0) == 1.0 and diversity_lambda(1) == pytest.approx(0.05)
    resolved = BlendCatalog().resolve(BlendConfig(), diversity=1.0)
    assert resolved.config.mmr_lambda == pytest.approx(diversity_lambda(1.0))


def test_evaluation_blend_scores_what_the_ranker_serves(tiny_index: Path):
    """The exact blend of the evaluation and the served blend share features and formula: on the same
    events their scores for the served candidates are equal."""
    rec = Recommender.load(tiny_index)
    products, events = tiny_frames()
    ds = make_dataset(products, events, "tiny")
    users = np.asarray(sorted(ds.events["user_id"].unique()), dtype=object)
    data = build_eval_data(ds.products, ds.events, users)
    scorer = BlendScorer(make_encoder("hashing-256"), rec.config)
    scorer.fit(data, {})
    for user in ("u_coffee", "u_run", "u_hater", "u_search"):
        answer = rec.for_user(user, k=5, explain=False)
        full = scorer.score(data.user_rows([user]))[0]
        served = {r.product_id: r.score for r in answer.results}
        evaluated = {p: float(full[data.item_positions([p])[0]]) for p in served}
        assert evaluated == pytest.approx(served, abs=1e-5)


def test_ties_follow_the_seeded_order_not_product_ids():
    tb = tiebreak_ranks(1000, seed=0)
    assert sorted(tb.tolist()) == list(range(1000)) and tb[:20].tolist() != list(range(20))
    order = popular_order(np.zeros(1000), tb)  # all equal: the seeded order decides
    assert order.tolist() == np.argsort(tb).tolist()


def test_id_map_rows_and_unknowns():
    ids = IdMap.of(["b", "a", "c"])
    assert ids.rows(pd.Series(["a", None, "zz", "c"])).tolist() == [1, -1, -1, 2]
    assert ids.row("c") == 2 and ids.row("zz") is None and "a" in ids and len(ids) == 3
    with pytest.raises(ValueError, match="unique"):
        IdMap.of(["a", "a"])


def test_text_method_is_cosine_only():
    from recsys.config import FEATURES
    from recsys.evaluation.methods import TEXT_ONLY

    weights = TEXT_ONLY.weights.model_dump()
    assert set(weights) == set(FEATURES)
    assert weights["cosine"] == 1 and all(v == 0 for f, v in weights.items() if f != "cosine")
