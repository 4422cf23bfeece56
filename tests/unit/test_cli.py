"""The CLI contract on the tiny index: JSON shape, exit codes, errors on stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recsys.cli.main", *args], capture_output=True, text=True,
                          timeout=120)


def test_build_then_recommend_json(tiny_dir: Path, tmp_path: Path):
    idx = tmp_path / "idx"
    b = run("build", "--data", str(tiny_dir), "--index", str(idx), "--encoder", "hashing-256", "--quiet")
    assert b.returncode == 0, b.stderr
    r = run("recommend", "--index", str(idx), "--user", "u_coffee", "-k", "3", "--json")
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert [x["product_id"] for x in body["results"]][0] == "c3"
    assert all({"product_id", "title", "score", "parts"} <= x.keys() for x in body["results"])
    s = json.loads(run("similar", "--index", str(idx), "--item", "r1", "-k", "2", "--json").stdout)
    assert len(s["results"]) == 2
    q = json.loads(run("query", "--index", str(idx), "-k", "1", "--json", "gps", "running watch").stdout)
    assert q["results"][0]["product_id"] == "r3"
    i = json.loads(run("inspect", "--index", str(idx), "--json", "--verify").stdout)
    assert i["manifest"]["index"]["count"] == 9 and i["verified"]


def test_human_output_names_titles_and_reasons(tiny_index: Path):
    r = run("recommend", "--index", str(tiny_index), "--user", "u_coffee", "-k", "2")
    assert r.returncode == 0
    assert "ceramic coffee mug" in r.stdout and "because you" in r.stdout and "cosine=" in r.stdout


@pytest.mark.parametrize("args,code,msg", [
    (["recommend", "--user", "nobody"], 6, "cold start"),
    (["similar", "--item", "nope"], 6, "not in index"),
])
def test_errors_go_to_stderr_with_class_exit_codes(tiny_index: Path, args, code, msg):
    r = run(*args[:1], "--index", str(tiny_index), *args[1:])
    assert r.returncode == code and msg in r.stderr and r.stdout == ""


def test_bad_data_fails_and_writes_nothing(tiny_dir: Path, tmp_path: Path):
    import pandas as pd

    ev = pd.read_parquet(tiny_dir / "events.parquet")
    ev.loc[0, "rating"] = 9.0
    ev.to_parquet(tiny_dir / "events.parquet", index=False)
    idx = tmp_path / "idx"
    r = run("build", "--data", str(tiny_dir), "--index", str(idx), "--encoder", "hashing-256")
    assert r.returncode == 2 and "rating" in r.stderr and "nothing was written" in r.stderr
    assert not idx.exists()


def test_missing_index_is_a_clear_error(tmp_path: Path):
    r = run("recommend", "--index", str(tmp_path / "none"), "--user", "u")
    assert r.returncode == 4 and "recsys build" in r.stderr


def test_usage_error_exit_code(tiny_index: Path):
    r = run("recommend", "--index", str(tiny_index))
    assert r.returncode == 2 and "--user" in r.stderr


def test_ads_match_returns_ads_beside_results(tiny_index: Path, tmp_path: Path):
    import pandas as pd

    camps = tmp_path / "c.jsonl"
    camps.write_text("\n".join(json.dumps(r) for r in [
        {"campaign_id": "mugs", "advertiser": "cafe", "landing_product_ids": ["c3", "c2"], "bid_type": "cpc",
         "bid": 1.0},
        {"campaign_id": "off", "advertiser": "x", "landing_product_ids": ["r1"], "bid_type": "cpc", "bid": 9.0,
         "status": "paused"}]))
    got = run("ads", "match", "--index", str(tiny_index), "--campaigns", str(camps), "--text", "espresso coffee mug",
              "-k", "1", "--relevance-floor", "0.05", "--min-percentile", "0", "--json")
    assert got.returncode == 0, got.stderr
    body = json.loads(got.stdout)
    assert [r["product_id"] for r in body["results"]] == ["c3"]
    assert [a["campaign_id"] for a in body["ads"]] == ["mugs"] and body["ads"][0]["product_id"] == "c2"
    assert body["ads_excluded"]["off"] == "paused"
    bad = run("ads", "match", "--index", str(tiny_index), "--campaigns", str(camps), "--json")
    assert bad.returncode == 2 and "exactly one of" in bad.stderr
    pd.DataFrame([{"campaign_id": "z", "bid_type": "cpc"}]).to_parquet(tmp_path / "bad.parquet")
    bad = run("ads", "match", "--index", str(tiny_index), "--campaigns", str(tmp_path / "bad.parquet"), "--user", "u")
    assert bad.returncode == 2 and "campaign 'z': bid is required" in bad.stderr
