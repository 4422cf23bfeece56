"""Ads in the HTTP API: an `ads` list beside organic `results`, ad events spending budgets and capping
frequency through POST /v1/events, and ad events refused when they name no campaign of the tenant."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from recsys.service import Settings, create_app

NOW = pd.Timestamp.now(tz="UTC").isoformat()
TEXT = {"texts": ["espresso coffee mug"], "k": 1, "ads": 3}


@pytest.fixture()
def client(tiny_index: Path, tmp_path: Path):
    camps = tmp_path / "campaigns.parquet"
    pd.DataFrame([
        dict(campaign_id="mugs", advertiser="cafe", landing_product_ids=["c3", "c2"], keywords=["espresso"],
             bid_type="cpc", bid=1.0, total_budget=2.0, seed_user_ids=[]),
        dict(campaign_id="novels", advertiser="press", headline="detective mystery novels", landing_product_ids=[],
             keywords=[], bid_type="cpm", bid=4.0, total_budget=None, seed_user_ids=[]),
    ]).to_parquet(camps)
    settings = Settings(index=tiny_index, events_db=tmp_path / "ev.db", campaigns=camps, ads_relevance_floor=0.05,
                        ads_min_percentile=0.0)
    with TestClient(create_app(settings)) as c:
        yield c


def _ad_ids(resp) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [a["campaign_id"] for a in resp.json()["ads"]]


def _events(*rows):
    return {"events": [dict(user_id=u, product_id=p, event_type=t, timestamp=NOW, campaign_id=c)
                       for c, u, p, t in rows]}


def test_ads_come_beside_results_and_never_repeat_them(client: TestClient):
    r = client.post("/v1/recommendations", json=TEXT)
    body = r.json()
    organic = {x["product_id"] for x in body["results"]}
    assert "mugs" in _ad_ids(r)
    assert all(a["product_id"] not in organic for a in body["ads"])
    mugs = next(a for a in body["ads"] if a["campaign_id"] == "mugs")
    assert {"headline", "body", "why", "pctr", "ecpm", "relevance"} <= mugs.keys() and mugs["why"]
    assert client.post("/v1/recommendations", json={**TEXT, "ads": 0}).json()["ads"] == []
    user = client.get("/v1/users/u_book/recommendations", params={"k": 2, "ads": 2})
    assert user.status_code == 200 and "ads" in user.json()
    page = client.get("/v1/items/c1/similar", params={"k": 1, "ads": 3}).json()
    assert all(a["product_id"] not in {"c1", page["results"][0]["product_id"]} for a in page["ads"])
    assert "mugs" in [a["campaign_id"] for a in page["ads"]] and "related to" in page["ads"][0]["why"]


def test_clicks_spend_the_budget_down_until_the_campaign_stops(client: TestClient):
    assert "mugs" in _ad_ids(client.post("/v1/recommendations", json=TEXT))
    for n, user in enumerate(("a1", "a2"), 1):
        ack = client.post("/v1/events", json=_events(("mugs", user, "c2", "click")))
        assert ack.status_code == 200, ack.text
        served = _ad_ids(client.post("/v1/recommendations", json=TEXT))
        assert ("mugs" in served) == (n == 1), (n, served)


def test_frequency_cap_per_user(client: TestClient):
    q = {"texts": ["detective mystery novel"], "k": 1, "ads": 3, "user_id": "reader"}
    assert "novels" in _ad_ids(client.post("/v1/recommendations", json=q))
    imps = _events(*[("novels", "reader", None, "impression")] * 3)
    assert client.post("/v1/events", json=imps).status_code == 200
    assert "novels" not in _ad_ids(client.post("/v1/recommendations", json=q))
    assert "novels" in _ad_ids(client.post("/v1/recommendations", json={**q, "user_id": "other"}))


def test_bad_ad_events_are_refused_and_nothing_is_stored(client: TestClient):
    r = client.post("/v1/events", json=_events(("nope", "u", "c1", "click")))
    assert r.status_code == 422 and "unknown campaign" in r.text
    r = client.post("/v1/events", json=_events(("mugs", "u", "c1", "purchase")))
    assert r.status_code == 422 and "impression and click" in r.text
    assert client.app.state.store.ad_events("default").empty


def test_explained_answers_say_why_each_other_campaign_got_no_ad(tiny_index: Path, tmp_path: Path):
    """`explain=true` adds `ads_excluded` (campaign id and reason: paused, frequency cap, …), declared in the
    OpenAPI schema; without it the answer carries no such key."""
    from .test_http_contract import CheckedClient

    camps = tmp_path / "campaigns.parquet"
    pd.DataFrame([
        dict(campaign_id="mugs", advertiser="cafe", landing_product_ids=["c3", "c2"], keywords=["espresso"],
             bid_type="cpc", bid=1.0, status="active"),
        dict(campaign_id="off", advertiser="shoes", landing_product_ids=["r1"], keywords=["running"],
             bid_type="cpc", bid=9.0, status="paused"),
        dict(campaign_id="novels", advertiser="press", headline="detective mystery novels", landing_product_ids=[],
             keywords=[], bid_type="cpm", bid=4.0, status="active", frequency_cap=1),
    ]).to_parquet(camps)
    settings = Settings(index=tiny_index, events_db=tmp_path / "ev.db", campaigns=camps, ads_relevance_floor=0.05,
                        ads_min_percentile=0.0)
    with CheckedClient(create_app(settings)) as c:
        assert c.post("/v1/events", json=_events(("novels", "reader", None, "impression"))).status_code == 200
        q = {"texts": ["detective mystery novel"], "k": 1, "ads": 3, "user_id": "reader"}
        plain = c.post("/v1/recommendations", json=q).json()
        assert "ads_excluded" not in plain and "novels" not in [a["campaign_id"] for a in plain["ads"]]
        why = {x["campaign_id"]: x["reason"] for x in
               c.post("/v1/recommendations", json={**q, "explain": True}).json()["ads_excluded"]}
        assert why["off"] == "paused" and why["novels"].startswith("frequency cap")
        page = c.get("/v1/items/c1/similar", params={"k": 1, "ads": 3, "explain": "true"}).json()
        assert {"campaign_id": "off", "reason": "paused"} in page["ads_excluded"]
        user = c.get("/v1/users/u_book/recommendations", params={"k": 2, "explain": "true"}).json()
        assert {"campaign_id": "off", "reason": "paused"} in user["ads_excluded"]
