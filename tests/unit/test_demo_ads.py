"""The shipped demo campaigns and the demo's ads/audience step, on the shipped sample built with the hashing
encoder (seconds): the file follows the campaign contract, every landing product and seed user is in the
sample, and `pipelines/demo.py` matches ads and builds non-empty audiences with the library calls."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from recsys.campaigns import load_campaigns

from ..conftest import REPO, SAMPLE

CAMPAIGNS = SAMPLE / "campaigns.jsonl"


def _demo() -> ModuleType:
    """pipelines/ is a folder of scripts, not a package: load demo.py by path."""
    spec = importlib.util.spec_from_file_location("recsys_demo_pipeline", REPO / "pipelines" / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is created
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sample_rec(tmp_path_factory: pytest.TempPathFactory):
    from recsys.build.pipeline import BuildOptions, build_index
    from recsys.data.dataset import load_dataset
    from recsys.encoders import make_encoder
    from recsys.recommender import Recommender

    out = tmp_path_factory.mktemp("sample") / "gift_cards"
    build_index(load_dataset(SAMPLE), out, make_encoder("hashing-256"), BuildOptions(progress=False, ranker="blend"))
    return Recommender.load(out)


def test_shipped_campaigns_follow_the_contract_and_point_into_the_sample():
    campaigns = load_campaigns(CAMPAIGNS)  # raises DataValidationError naming every problem
    products = set(pd.read_parquet(SAMPLE / "products.parquet")["product_id"])
    users = set(pd.read_parquet(SAMPLE / "events.parquet")["user_id"])
    for c in campaigns:
        assert set(c.landing_product_ids) <= products, c.campaign_id
        assert set(c.seed_user_ids) <= users, c.campaign_id
        assert c.advertiser.endswith("(demo)"), "advertisers are marked as invented"
    assert {c.bid_type for c in campaigns} == {"cpc", "cpm"}
    assert any(c.is_lookalike for c in campaigns) and any(c.keywords and not c.is_lookalike for c in campaigns)
    assert any(not c.landing_product_ids and c.headline for c in campaigns)  # a text-only campaign
    assert any(c.status == "paused" for c in campaigns) and any(c.status == "active" for c in campaigns)
    live = [c for c in campaigns if c.status == "active"]
    assert all(c.live_at(pd.Timestamp.now(tz="UTC")) for c in live), "active demo campaigns must not expire"
    # one JSON object per line, only contract columns (load_campaigns refuses unknown ones)
    assert all(isinstance(json.loads(line), dict) for line in CAMPAIGNS.read_text().splitlines())


def test_demo_matches_ads_and_builds_audiences(sample_rec, tmp_path: Path):
    from recsys.ads.matcher import AdMatcher

    demo = _demo()
    rec = sample_rec
    campaigns = load_campaigns(CAMPAIGNS)
    matcher = AdMatcher.build(rec.art, campaigns, rec.encoder)
    assert matcher.cv.warnings == ()  # every landing product and seed user resolves in the index
    coffee = demo.ads_for(matcher, rec, rec.for_text([demo.QUERY], 10), texts=[demo.QUERY])
    assert "starbucks-coffee-lovers" in {a.campaign_id for a in coffee.ads}  # the keyword campaign wins a slot
    assert coffee.excluded["outback-spring-steak"] == "paused"
    user = str(rec.art.user_ids[0])
    answer = rec.for_user(user, 10)
    personal = demo.ads_for(matcher, rec, answer, user=user)
    organic = {r.product_id for r in answer.results}
    assert all(a.product_id not in organic for a in personal.ads)

    aud = demo.build_audiences(rec, campaigns, tmp_path / "aud", size=5)
    active = [c.campaign_id for c in campaigns if c.status == "active"]
    assert [c["campaign_id"] for c in aud.summary["campaigns"]] == active
    assert all(c["reach"] == 5 for c in aud.summary["campaigns"])
    assert aud.warnings == ("campaign 'outback-spring-steak' is paused; no audience built",)
    frames = {cid: pd.read_parquet(tmp_path / "aud" / f"{cid}.parquet") for cid in active}
    for c in campaigns:
        if c.is_lookalike and c.status == "active":  # a lookalike's seeds are never in its own audience
            assert not set(frames[c.campaign_id]["user_id"]) & set(c.seed_user_ids)
    assert (tmp_path / "aud" / "summary.html").is_file()
