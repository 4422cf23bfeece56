"""Blend and text methods in the evaluation harness: known answers, tuning, and no leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.encoders import CachedEncoder, HashingEncoder
from recsys.evaluation import EvalConfig, build_eval_data, evaluate_methods, split_events, train_valid_events
from recsys.evaluation.blend_scorers import BlendScorer, IndexedBlendScorer, config_from_params
from recsys.evaluation.methods import TEXT_ONLY, all_methods
from recsys.ranking.tuning import coordinate_ascent, paired_z

from ..conftest import tiny_frames

THEMES = {
    "coffee": ["espresso beans", "coffee grinder", "coffee mug", "milk frother", "pour over kettle", "coffee filter"],
    "running": ["running shoes", "running socks", "gps watch", "water bottle", "running shorts", "head torch"],
    "books": ["mystery novel", "fantasy novel", "poetry book", "cook book", "history book", "comic book"],
}


def synthetic(seed: int = 0, users_per_theme: int = 12) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Users stick to one theme over four days; the right next item is obvious from text and co-occurrence."""
    rng = np.random.default_rng(seed)
    rows = [(f"{t[0]}{i}", title, t, "") for t, titles in THEMES.items() for i, title in enumerate(titles)]
    products = pd.DataFrame(rows, columns=["product_id", "title", "category", "brand"]).assign(
        description="", price=10.0)
    ev = []
    t0 = pd.Timestamp("2024-03-01", tz="UTC")
    for theme, titles in THEMES.items():
        for u in range(users_per_theme):
            items = rng.permutation(len(titles))[:4]
            for day, it in enumerate(items):
                ev.append((f"{theme}-u{u}", f"{theme[0]}{it}", "purchase", t0 + pd.Timedelta(days=day + u % 3),
                           np.nan, f"nice {titles[it]}"))
    events = pd.DataFrame(ev, columns=["user_id", "product_id", "event_type", "timestamp", "rating", "text"])
    return products, events


def test_coordinate_ascent_finds_the_known_optimum():
    def f(p):  # per-user values peaking at a=2, b=1
        base = -((p["a"] - 2) ** 2) - (p["b"] - 1) ** 2
        return np.full(50, base) + np.linspace(0, 0.01, 50)

    best, trials = coordinate_ascent(f, {"a": 0, "b": 0}, {"a": [0, 1, 2, 3], "b": [0, 1, 2]})
    assert best == {"a": 2, "b": 1}
    assert len({tuple(sorted(t["params"].items())) for t in trials}) == len(trials)


def test_noise_does_not_move_the_guarded_ascent():
    rng = np.random.default_rng(0)
    noise = {v: rng.normal(0, 1, 40) for v in range(5)}
    best, _ = coordinate_ascent(lambda p: noise[p["a"]], {"a": 0}, {"a": list(range(5))}, min_z=3.0)
    assert best == {"a": 0}
    assert paired_z(np.ones(3), np.zeros(3)) == np.inf and paired_z(np.zeros(3), np.zeros(3)) == 0.0


def test_blend_scorer_ranks_the_theme_first():
    products, events = synthetic()
    data = build_eval_data(products, events)
    scorer = BlendScorer(CachedEncoder(HashingEncoder(128)))
    scorer.fit(data, {})
    rows = data.user_rows(["coffee-u0", "books-u3"])
    scores = scorer.score(rows)
    assert scores.shape == (2, len(products))
    top = np.argsort(-np.where(data.matrix[rows].toarray() > 0, -np.inf, scores), axis=1)[:, :2]
    assert all(products.product_id[i].startswith("c") for i in top[0])
    assert all(products.product_id[i].startswith("b") for i in top[1])


def test_text_only_config_uses_only_cosine():
    cfg = config_from_params(TEXT_ONLY, {"text_weight": 0.0})
    assert cfg.weights.popularity == 0 and cfg.profile.text_weight == 0 and cfg.weights.cosine == 1


def test_indexed_blend_matches_exact_blend_at_the_top():
    products, events = synthetic()
    data = build_eval_data(products, events)
    enc = CachedEncoder(HashingEncoder(128))
    exact, indexed = BlendScorer(enc), IndexedBlendScorer(enc, k=5)
    exact.fit(data, {})
    indexed.fit(data, {})
    rows = data.user_rows(["running-u1", "coffee-u2"])
    excl = data.matrix[rows].toarray() > 0
    e = np.argsort(-np.where(excl, -np.inf, exact.score(rows)), axis=1, kind="stable")[:, :1]
    i = np.argsort(-indexed.score(rows), axis=1, kind="stable")[:, :1]
    assert (e == i).all()


def test_a_test_day_event_cannot_influence_the_scores():
    """Poison every user's last (test) day; every method must score exactly as before."""
    products, events = synthetic()
    last = events.groupby("user_id").timestamp.transform("max")
    poison = events[events.timestamp == last].copy()
    poison["product_id"] = "b5"  # everyone 'buys' the same book on the test day
    poison["text"] = "comic book comic book comic book"
    poisoned = pd.concat([events, poison], ignore_index=True)
    enc = CachedEncoder(HashingEncoder(128))
    results = []
    for ev in (events, poisoned):
        split = split_events(ev, "last-day")
        full = build_eval_data(products, train_valid_events(split), users=split.test_users)
        rows = full.user_rows(split.test_users)
        per_method = {}
        for name, m in all_methods(enc, k=10).items():
            if name == "blend_tuned":
                continue  # same fit path as blend; its search only reads validation data
            m.fit(full, {})
            per_method[name] = m.score(rows)
        results.append(per_method)
    for name in results[0]:
        np.testing.assert_array_equal(results[0][name], results[1][name], err_msg=name)


def test_harness_reports_every_method_on_tiny_data():
    products, events = synthetic()
    methods = all_methods(CachedEncoder(HashingEncoder(128)), k=20)
    report = evaluate_methods(products, events, methods, EvalConfig(ks=(10, 20), n_boot=50, sampled_negatives=5))
    for name in ("popularity", "itemknn", "ease", "bm25", "text", "blend", "blend_exact", "blend_tuned"):
        m = report["methods"][name]
        assert 0 <= m["recall@10"] <= 1 and 0 <= m["ndcg@10"] <= 1, name
    assert report["methods"]["blend"]["recall@10"] > report["methods"]["popularity"]["recall@10"]
    assert "id" in report["methods"]["blend_tuned"]["params"]


def test_unknown_method_name_is_a_config_error():
    from recsys.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown method"):
        all_methods(HashingEncoder(16), only=["nope"])


def test_cli_evaluate_and_tune(tmp_path):
    import json
    import subprocess
    import sys

    products, events = synthetic()
    d = tmp_path / "data"
    d.mkdir()
    products.to_parquet(d / "products.parquet")
    events.to_parquet(d / "events.parquet")
    r = subprocess.run([sys.executable, "-m", "recsys.cli.main", "evaluate", "--data", str(d), "--out",
                        str(tmp_path / "ev"), "--encoder", "hashing-128", "--n-boot", "20", "--k", "10,20"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert {"dataset", "config", "methods", "git_sha", "machine"} <= rep.keys()
    assert (tmp_path / "ev" / "report.html").exists() and (tmp_path / "ev" / "blend_tuned.json").exists()
    t = subprocess.run([sys.executable, "-m", "recsys.cli.main", "tune", "--data", str(d), "--out",
                        str(tmp_path / "tuned.json"), "--encoder", "hashing-128"], capture_output=True, text=True,
                       timeout=300)
    assert t.returncode == 0, t.stderr
    from recsys.config import load_config

    assert load_config(tmp_path / "tuned.json").id.startswith("tuned-")
    bad = subprocess.run([sys.executable, "-m", "recsys.cli.main", "evaluate", "--data", str(d), "--out",
                          str(tmp_path / "x"), "--k", "5,x"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--k" in bad.stderr


def test_tiny_frames_still_evaluate():
    products, events = tiny_frames()
    report = evaluate_methods(products, events.dropna(subset=["product_id"]), all_methods(HashingEncoder(64), k=10,
                              only=["popularity", "blend"]), EvalConfig(ks=(10,), n_boot=10))
    assert set(report["methods"]) == {"popularity", "blend"}


def test_ratings_only_and_empty_titles_evaluate():
    products, events = synthetic()
    products["title"] = ""
    events = events.assign(text="", event_type="rating", rating=4.0)
    report = evaluate_methods(products, events, all_methods(CachedEncoder(HashingEncoder(64)), k=10),
                              EvalConfig(ks=(10,), n_boot=10))
    assert all(not m.get("skipped") for m in report["methods"].values())
    assert report["methods"]["blend"]["recall@10"] >= report["methods"]["text"]["recall@10"]
