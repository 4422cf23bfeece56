"""`recsys audience build` / `evaluate` end to end on the tiny hashing-encoder index."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from recsys.cli.main import app

runner = CliRunner()


def _campaigns(path: Path) -> Path:
    rows = [
        {"campaign_id": "coffee", "bid_type": "cpc", "bid": 1.0, "landing_product_ids": ["c1"],
         "headline": "espresso coffee", "total_budget": 1000.0},
        {"campaign_id": "run", "bid_type": "cpm", "bid": 2000.0, "landing_product_ids": ["r3"], "total_budget": 5.0},
        {"campaign_id": "look", "bid_type": "cpm", "bid": 2.0, "seed_user_ids": ["u_x1", "u_coffee"]},
        {"campaign_id": "off", "bid_type": "cpc", "bid": 1.0, "headline": "novel", "status": "paused"},
    ]
    f = path / "campaigns.parquet"
    pd.DataFrame(rows).to_parquet(f)
    return f


def _build(tiny_index: Path, tmp_path: Path, *extra: str) -> tuple[Path, dict]:
    out = tmp_path / "aud"
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "optout.txt").write_text("u_book\n")
    res = runner.invoke(app, ["audience", "build", "--index", str(tiny_index), "--campaigns",
                              str(_campaigns(tmp_path)), "--out", str(out), "--size", "4", "--holdout", "0.3",
                              "--opt-out", str(tmp_path / "optout.txt"), *extra])
    assert res.exit_code == 0, res.output
    return out, json.loads((out / "summary.json").read_text())


def test_build_writes_audiences_with_rules_applied(tiny_index: Path, tmp_path: Path) -> None:
    out, summary = _build(tiny_index, tmp_path, "--max-per-user", "2")
    files = {p.stem: pd.read_parquet(p) for p in out.glob("*.parquet")}
    assert set(files) == {"coffee", "run", "look"}  # the paused campaign is skipped
    for frame in files.values():
        assert list(frame.columns) == ["user_id", "score", "rank", "group"]
        assert 0 < len(frame) <= 4 and frame.user_id.is_unique
        assert set(frame.group) <= {"target", "holdout"}
        assert (np.diff(frame.score.to_numpy()) <= 0).all()
    # already bought the landing product c1 (review or purchase), or opted out: never targeted
    assert not {"u_coffee", "u_x1", "u_x2", "u_neg", "u_book"} & set(files["coffee"].user_id)
    assert not {"u_x1", "u_coffee"} & set(files["look"].user_id)  # lookalike seeds excluded
    per_user = pd.concat([f.assign(c=c) for c, f in files.items()]).groupby("user_id").c.nunique()
    assert per_user.max() <= 2
    assert "overlap" in summary and len(summary["overlap"]["matrix"]) == 3
    run = next(c for c in summary["campaigns"] if c["campaign_id"] == "run")
    assert run["cost_capped_by_budget"] and run["estimated_cost"] == 5.0
    coffee = next(c for c in summary["campaigns"] if c["campaign_id"] == "coffee")
    assert coffee["estimated_cost"] == pytest.approx(coffee["reach_target"] * 3 * 0.01 * 1.0)
    assert summary["parameters"]["size"] == 4 and summary["parameters"]["max_per_user"] == 2
    html = (out / "summary.html").read_text()
    assert "<script" not in html and "Overlap" in html and "coffee" in html


def test_build_is_deterministic_and_cap_one_separates_audiences(tiny_index: Path, tmp_path: Path) -> None:
    out_a, _ = _build(tiny_index, tmp_path / "a", "--max-per-user", "1")
    out_b, _ = _build(tiny_index, tmp_path / "b", "--max-per-user", "1")
    for name in ("coffee", "run", "look"):
        assert pd.read_parquet(out_a / f"{name}.parquet").equals(pd.read_parquet(out_b / f"{name}.parquet"))
    users = pd.concat([pd.read_parquet(p) for p in out_a.glob("*.parquet")]).user_id
    assert users.is_unique


def test_bad_campaign_id_and_engine_are_usage_errors(tiny_index: Path, tmp_path: Path) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text(json.dumps({"campaign_id": "../evil", "bid_type": "cpc", "bid": 1, "headline": "x"}) + "\n")
    res = runner.invoke(app, ["audience", "build", "--index", str(tiny_index), "--campaigns", str(f),
                              "--out", str(tmp_path / "o")])
    assert res.exit_code != 0 and "cannot name an audience file" in str(res.exception)
    assert not (tmp_path / "o").exists()
    res = runner.invoke(app, ["audience", "build", "--index", str(tiny_index), "--campaigns",
                              str(_campaigns(tmp_path)), "--out", str(tmp_path / "o"), "--engine", "spark"])
    assert res.exit_code != 0 and "--engine" in str(res.exception)
