"""Replaying a repeated GET from the bytes sent before (`recsys.service.replay`): only while the cached
answer they were rendered from is still the one the application would answer from, only for the same
tenant's key, never with ads or a body, and counted under the same route."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from fastapi.testclient import TestClient

from recsys.service import Settings, create_app
from recsys.service.keys import create_key

from ..conftest import build_tiny_version

TS = "2024-03-01T00:00:00Z"
URL = "/v1/users/u_coffee/recommendations?k=3"
SCRAPE = "scrape-secret-0123456789"


def _client(index: Path, tmp_path: Path, **settings) -> TestClient:
    return TestClient(create_app(Settings(index=index, events_db=tmp_path / "ev.db", sync_interval=3600.0,
                                          reload_poll_interval=0.0, **settings)))


def _replayed(client: TestClient, tenant: str = "default") -> float:
    scrape = client.get("/metrics", headers={"X-API-Key": SCRAPE}).text
    found = re.search(rf'recsys_answers_replayed_total{{tenant="{tenant}"}} (\S+)', scrape)
    return float(found.group(1)) if found else 0.0


def _purchase(user: str, product: str) -> dict:
    return {"events": [{"user_id": user, "product_id": product, "event_type": "purchase", "timestamp": TS}]}


def test_a_repeated_get_is_replayed_byte_for_byte_and_counted_under_its_route(tiny_index: Path, tmp_path: Path):
    with _client(tiny_index, tmp_path) as c:
        first, again = c.get(URL), c.get(URL)
        similar = [c.get("/v1/items/b1/similar?k=2") for _ in range(2)]
        portraits = [c.get("/v1/users/u_coffee/profile") for _ in range(2)]
        assert first.status_code == again.status_code == portraits[1].status_code == 200
        assert portraits[0].content == portraits[1].content
        assert again.content == first.content and again.headers["content-type"] == "application/json"
        assert similar[0].content == similar[1].content
        assert _replayed(c) == 3.0
        metrics = c.get("/metrics").text
        route = 'route="/v1/users/{user_id}/recommendations",status="200"'
        assert f'recsys_requests_total{{method="GET",{route}}} 2.0' in metrics
        assert c.app.state.tenants["default"].served.answers.hits == 2  # the cache's own rule said yes


def test_the_users_own_event_and_other_users_events_end_the_replay(tiny_index: Path, tmp_path: Path):
    with _client(tiny_index, tmp_path) as c:
        shown = [r["product_id"] for r in c.get(URL).json()["results"]]
        assert c.post("/v1/events", json=_purchase("u_coffee", shown[0])).status_code == 200
        after = [r["product_id"] for r in c.get(URL).json()["results"]]
        assert shown[0] not in after and _replayed(c) == 0.0  # bought now, so excluded: ranked again
        c.get(URL)
        assert _replayed(c) == 1.0
        portrait = c.get("/v1/users/u_coffee/profile").content
        c.post("/v1/events", json=_purchase("someone_else", "b2"))  # the live counters moved
        c.get(URL)
        assert _replayed(c) == 1.0
        assert c.get("/v1/users/u_coffee/profile").content == portrait and _replayed(c) == 2.0  # not counters
        c.post("/v1/events", json=_purchase("u_coffee", "b2"))
        assert c.get("/v1/users/u_coffee/profile").content != portrait and _replayed(c) == 2.0


def test_a_different_query_body_or_ads_is_never_replayed(tiny_index: Path, tmp_path: Path):
    with _client(tiny_index, tmp_path) as c:
        c.get(URL)
        c.get(URL + "&explain=true")
        c.request("GET", URL, content=b"{}", headers={"content-type": "application/json"})  # a body: full path
        assert _replayed(c) == 0.0
    campaigns = tmp_path / "campaigns.parquet"
    pd.DataFrame([dict(campaign_id="mugs", advertiser="cafe", landing_product_ids=["c3"], keywords=["espresso"],
                       bid_type="cpc", bid=1.0, total_budget=2.0, seed_user_ids=[])]).to_parquet(campaigns)
    ads_db = tmp_path / "ads"
    ads_db.mkdir()
    with _client(tiny_index, ads_db, campaigns=campaigns) as c:
        c.get(URL), c.get(URL)
        assert _replayed(c) == 0.0  # ads are matched afresh on every request
        c.get(URL + "&ads=0"), c.get(URL + "&ads=0")
        assert _replayed(c) == 1.0


def test_a_key_of_another_tenant_or_an_unknown_key_never_gets_the_kept_bytes(tmp_path: Path):
    root = tmp_path / "indexes"
    build_tiny_version(root / "shop-a")
    build_tiny_version(root / "shop-b", extra_product="z9")
    keys = tmp_path / "keys.json"
    a, _ = create_key(keys, "shop-a")
    b, _ = create_key(keys, "shop-b")
    with _client(root, tmp_path, keys=keys, metrics_key=SCRAPE) as c:
        first = c.get(URL, headers={"X-API-Key": a})
        assert c.get(URL, headers={"X-API-Key": a}).content == first.content and _replayed(c, "shop-a") == 1.0
        assert c.get(URL, headers={"X-API-Key": "rk_wrong"}).status_code == 401
        assert c.get(URL).status_code == 401
        other = c.get(URL, headers={"X-API-Key": b})
        assert other.status_code == 200 and other.json()["index_version"] != first.json()["index_version"]
        assert _replayed(c, "shop-b") == 0.0


def test_replay_off_when_the_answer_cache_is(tiny_index: Path, tmp_path: Path):
    with _client(tiny_index, tmp_path, answer_cache_ttl=0.0) as c:
        assert c.get(URL).content == c.get(URL).content
        assert _replayed(c) == 0.0
    off = tmp_path / "off"
    off.mkdir()
    with _client(tiny_index, off, answer_replay_mb=0) as c:
        c.get(URL), c.get(URL)
        assert _replayed(c) == 0.0 and c.app.state.tenants["default"].served.answers.hits == 1
