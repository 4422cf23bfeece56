from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import recsys.evaluation as evaluation
from recsys.data import schema as S
from recsys.errors import ConfigError, DataValidationError
from recsys.evaluation import (
    EASEScorer,
    EvalConfig,
    ItemKNNScorer,
    PopularityScorer,
    evaluate_methods,
    write_report,
)

D0 = pd.Timestamp("2024-01-01", tz="UTC")


def dataset(n_users=40, n_items=30, seed=0):
    """Two taste blocks; each user buys items of their block on four days."""
    rng = np.random.default_rng(seed)
    products = pd.DataFrame({
        S.PRODUCT_ID: [f"p{i:02d}" for i in range(n_items)],
        S.TITLE: [f"{'red' if i < n_items // 2 else 'blue'} thing {i}" for i in range(n_items)],
        S.DESCRIPTION: [""] * n_items,
        S.CATEGORY: ["A" if i < n_items // 2 else "B" for i in range(n_items)],
        S.BRAND: [""] * n_items,
        S.PRICE: [np.nan] * n_items,
    })
    rows = []
    for u in range(n_users):
        block = np.arange(n_items // 2) + (0 if u % 2 else n_items // 2)
        items = rng.choice(block, size=6, replace=False)
        for d, item in enumerate(items):
            rows.append((f"u{u:02d}", f"p{item:02d}", "purchase", D0 + pd.Timedelta(days=min(d, 4)), np.nan, ""))
    events = pd.DataFrame(rows, columns=list(S.EVENT_COLUMNS))
    events[S.TIMESTAMP] = events[S.TIMESTAMP].astype("datetime64[us, UTC]")
    return products, events


def test_evaluate_methods_reports_every_method_and_skips_with_reason(tmp_path):
    products, events = dataset()
    scorers = {
        "popularity": PopularityScorer(),
        "itemknn": ItemKNNScorer(neighbours=(5, None)),
        "ease_tiny": EASEScorer(max_items=5),
    }
    report = evaluate_methods(products, events, scorers, EvalConfig(sampled_negatives=10, n_boot=50))
    assert set(report) == {"dataset", "config", "split", "methods"}
    assert report["split"]["users_evaluated"] == 40
    knn = report["methods"]["itemknn"]
    for key in ("recall@10", "ndcg@10", "recall@20", "recall@50", "ndcg@50", "mrr", "hitrate@10",
                "coverage@10", "recall@10_ci95", "ndcg@10_ci95", "sampled10_recall@10", "params",
                "fit_s", "score_s", "slices"):
        assert key in knn, key
    assert knn["params"]["k"] in (5, None) and len(knn["tuning"]) == 2
    lo, hi = knn["recall@10_ci95"]
    assert lo <= knn["recall@10"] <= hi
    # a taste-aware method beats popularity on block data
    assert knn["recall@10"] > report["methods"]["popularity"]["recall@10"]
    assert report["methods"]["ease_tiny"]["skipped"] is True
    assert "max_items" in report["methods"]["ease_tiny"]["reason"]
    assert set(knn["slices"]["history_length"]) == {"1-2", "3-5", "6-10", "11+"}

    paths = write_report(report, tmp_path / "out")
    assert json.loads(paths["json"].read_text())["methods"]["ease_tiny"]["skipped"] is True
    md = paths["md"].read_text()
    assert "| itemknn |" in md and "skipped" in md
    html = paths["html"].read_text()
    assert "<svg" in html and "<script" not in html and "itemknn" in html


def test_results_are_deterministic_for_a_seed():
    products, events = dataset()
    cfg = EvalConfig(n_boot=20, sampled_negatives=5)
    a = evaluate_methods(products, events, {"pop": PopularityScorer()}, cfg)["methods"]["pop"]
    b = evaluate_methods(products, events, {"pop": PopularityScorer()}, cfg)["methods"]["pop"]
    for key in ("recall@10", "ndcg@10", "recall@10_ci95", "sampled5_recall@10"):
        assert a[key] == b[key]


def test_config_validation():
    with pytest.raises(ConfigError):
        EvalConfig(ks=())
    with pytest.raises(ConfigError):
        EvalConfig(scheme="weekly")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="cutoff"):
        EvalConfig(scheme="last-day", cutoff=D0)
    assert EvalConfig(ks=(50, 10)).ks == (10, 50)


def test_no_evaluable_user_is_a_clear_error():
    products, events = dataset()
    one_day = events.assign(**{S.TIMESTAMP: events[S.TIMESTAMP].min()})
    with pytest.raises(DataValidationError, match="no user has both"):
        evaluate_methods(products, one_day, {"pop": PopularityScorer()}, EvalConfig())


def test_public_names():
    assert sorted(evaluation.__all__) == sorted([
        "BM25Scorer", "EASEScorer", "EvalConfig", "EvalData", "ItemKNNScorer", "PopularityScorer", "Scorer",
        "Split", "build_eval_data", "default_scorers", "evaluate_methods", "rank_in_batches", "split_events",
        "top_k", "train_valid_events", "write_report",
    ])
    for name in evaluation.__all__:
        assert getattr(evaluation, name) is not None
