"""The answer cache in the running app: a repeated request is answered from it (same body, counted as a
hit), and a new event of the user, other users' events (by default), a reload or another request shape
are never answered from a stale entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from recsys.online.cache import AnswerCache
from recsys.service import Settings, create_app

TS = "2024-03-01T00:00:00Z"
POP = "weights=" + json.dumps({"popularity": 1.0})  # rank by popularity alone: purchases decide the top


def _client(tiny_index: Path, tmp_path: Path, **settings) -> TestClient:
    return TestClient(create_app(Settings(index=tiny_index, events_db=tmp_path / "ev.db", sync_interval=0.0,
                                          reload_poll_interval=0.0, **settings)))


def _cache(client: TestClient) -> AnswerCache:
    return client.app.state.tenants["default"].served.answers


def _purchases(product: str, users: list[str]) -> dict:
    return {"events": [{"user_id": u, "product_id": product, "event_type": "purchase", "timestamp": TS}
                       for u in users]}


def _top(client: TestClient, k: int = 9) -> str:
    return client.get(f"/v1/users/u_run/recommendations?k={k}&{POP}").json()["results"][0]["product_id"]


def test_a_repeated_request_is_a_hit_with_the_same_body(tiny_index: Path, tmp_path: Path):
    with _client(tiny_index, tmp_path) as c:
        first = c.get("/v1/users/u_coffee/recommendations?k=3")
        again = c.get("/v1/users/u_coffee/recommendations?k=3")
        assert first.status_code == again.status_code == 200 and first.content == again.content
        assert (_cache(c).hits, _cache(c).misses) == (1, 1)
        for other in ("k=4", "k=3&category=running", "k=3&exclude_seen=false", "k=3&explain=true", f"k=3&{POP}"):
            c.get(f"/v1/users/u_coffee/recommendations?{other}")  # another request shape: its own entry
        assert _cache(c).hits == 1 and len(_cache(c)) == 6
        metrics = c.get("/metrics").text
        assert 'recsys_cache_lookups_total{cache="answers",result="hit",tenant="default"} 1.0' in metrics


def test_the_users_own_event_invalidates_their_answer(tiny_index: Path, tmp_path: Path):
    with _client(tiny_index, tmp_path) as c:
        shown = [r["product_id"] for r in c.get("/v1/users/u_coffee/recommendations?k=3").json()["results"]]
        assert c.post("/v1/events", json=_purchases(shown[0], ["u_coffee"])).status_code == 200
        after = [r["product_id"] for r in c.get("/v1/users/u_coffee/recommendations?k=3").json()["results"]]
        assert shown[0] not in after  # bought now, so seen and excluded: the cached answer was not reused
        assert _cache(c).hits == 0


def test_other_users_events_invalidate_unless_a_lag_is_allowed(tiny_index: Path, tmp_path: Path):
    with _client(tiny_index, tmp_path) as exact:
        before = _top(exact)
        assert before != "b2"
        exact.post("/v1/events", json=_purchases("b2", [f"fan{i}" for i in range(6)]))
        assert _top(exact) == "b2" and _cache(exact).hits == 0  # the counters moved: ranked again
    lagging_db = tmp_path / "lag"
    lagging_db.mkdir()
    with _client(tiny_index, lagging_db, answer_cache_lag=3600.0) as lagging:
        assert _top(lagging) == before
        lagging.post("/v1/events", json=_purchases("b2", [f"fan{i}" for i in range(6)]))
        assert _top(lagging) == before and _cache(lagging).hits == 1  # the accepted staleness, by choice
        assert _top(lagging, k=8) == "b2"  # a request not cached before sees the new counters


def test_ttl_zero_turns_the_cache_off_and_a_reload_starts_an_empty_one(tiny_index: Path, tmp_path: Path):
    with _client(tiny_index, tmp_path, answer_cache_ttl=0.0) as off:
        _top(off), _top(off)
        assert (_cache(off).hits, _cache(off).misses, len(_cache(off))) == (0, 0, 0)
    with _client(tiny_index, tmp_path, answer_cache_size=70) as c:
        _top(c)
        assert len(_cache(c)) == 1
        assert c.post("/v1/admin/reload").status_code == 200
        assert len(_cache(c)) == 1  # the same version: reload kept serving it, cache and all
        served = c.app.state.tenants["default"].served
        fresh = served.answers.emptied()
        assert (fresh.max_entries, fresh.ttl_s, len(fresh)) == (70, 30.0, 0)


@pytest.mark.parametrize("path", ["/v1/users/nobody/recommendations?k=3"])
def test_errors_are_not_cached(tiny_index: Path, tmp_path: Path, path: str):
    with _client(tiny_index, tmp_path) as c:
        assert c.get(path).status_code == 404 and c.get(path).status_code == 404
        assert len(_cache(c)) == 0 and _cache(c).hits == 0


def test_similar_items_are_cached_per_product_and_shape(tiny_index: Path, tmp_path: Path):
    with _client(tiny_index, tmp_path) as c:
        first = c.get("/v1/items/r1/similar?k=2")
        assert first.content == c.get("/v1/items/r1/similar?k=2").content and _cache(c).hits == 1
        assert c.get("/v1/items/r2/similar?k=2").json()["results"][0]["product_id"] != "r2"
        c.get("/v1/items/r1/similar?k=3")
        assert (_cache(c).hits, len(_cache(c))) == (1, 3)
        assert c.get("/v1/items/nothing/similar?k=2").status_code == 404 and len(_cache(c)) == 3


def test_a_portrait_is_reused_until_the_users_next_event(tiny_index: Path, tmp_path: Path):
    with _client(tiny_index, tmp_path) as c:
        portraits = c.app.state.tenants["default"].served.portraits
        first = c.get("/v1/users/u_coffee/profile")
        assert first.status_code == 200 and c.get("/v1/users/u_coffee/profile").content == first.content
        assert portraits.hits == 1
        c.post("/v1/events", json=_purchases("r3", [f"fan{i}" for i in range(3)]))  # others' events: still valid
        assert c.get("/v1/users/u_coffee/profile").content == first.content and portraits.hits == 2
        c.post("/v1/events", json=_purchases("r3", ["u_coffee"]))
        after = c.get("/v1/users/u_coffee/profile").json()
        assert after["live_events"] == 1 and first.json()["live_events"] == 0 and portraits.hits == 2
