"""The HTTP API in process (FastAPI TestClient): endpoints, online reflection of events, error mapping,
limits, blend configs per request and metrics. Auth, tenants and hot swap: test_service_tenancy.py.
Every answer here is also checked against the OpenAPI schema (`CheckedClient`, test_http_contract.py)."""

from __future__ import annotations

import fcntl
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from recsys.service import Settings, create_app

from .test_http_contract import CheckedClient

TS = "2024-03-01T00:00:00Z"


@pytest.fixture(params=[None, False], ids=["reads-on-loop", "reads-in-threads"])
def client(request: pytest.FixtureRequest, tiny_index: Path, tmp_path: Path):
    """The same API whichever way reads run (`Settings.inline_reads`: None ranks on the event loop with
    SQLite, False in the threadpool)."""
    cfg = tmp_path / "blends.json"
    cfg.write_text(json.dumps({
        "configs": {"base": {}, "pop": {"weights": {"cosine": 0.0, "cooc": 0.0, "popularity": 1.0}}},
        "experiments": {"exp": {"arms": {"a": "base", "b": "pop"}}}}))
    settings = Settings(index=tiny_index, events_db=tmp_path / "ev.db", config=cfg, max_k=20,
                        max_body_bytes=20_000, max_events_per_batch=50, inline_reads=request.param)
    with CheckedClient(create_app(settings)) as c:
        assert c.app.state.inline_reads is (request.param is None)
        yield c


def ids(resp) -> list[str]:
    return [r["product_id"] for r in resp.json()["results"]]


def test_user_recommendations_carry_results_config_version_and_fallback(client: TestClient):
    r = client.get("/v1/users/u_coffee/recommendations", params={"k": 3, "explain": "true"})
    assert r.status_code == 200
    body = r.json()
    assert ids(r)[0] == "c3"
    assert {"results", "config_id", "index_version", "fallback", "strategy"} <= body.keys()
    assert {"product_id", "title", "score", "parts", "because"} <= body["results"][0].keys()
    assert body["fallback"] is None and body["strategy"] == "personal"
    lean = client.get("/v1/users/u_coffee/recommendations", params={"k": 3}).json()["results"][0]
    assert "because" not in lean and "sources" not in lean and "parts" in lean
    assert "extra" not in body  # only declared fields (RecommendationsOut)


def test_filters_and_seen_exclusion(client: TestClient):
    assert set(ids(client.get("/v1/users/u_coffee/recommendations?k=5&category=running"))) <= {"r1", "r2", "r3"}
    cheap = client.get("/v1/users/u_coffee/recommendations?k=9&max_price=10").json()["results"]
    assert cheap and all(x["product_id"] in {"c3", "r2", "b1", "b2"} for x in cheap)
    assert "c1" in ids(client.get("/v1/users/u_coffee/recommendations?k=9&exclude_seen=false"))
    assert "c1" not in ids(client.get("/v1/users/u_coffee/recommendations?k=9"))
    assert client.get("/v1/users/u_coffee/recommendations?k=3&diversity=0.8").status_code == 200


def test_similar_items_and_cold_start(client: TestClient):
    assert ids(client.get("/v1/items/r1/similar?k=2"))[0] in {"r2", "r3"}
    r = client.post("/v1/recommendations", json={"texts": ["gps running watch"], "k": 1})
    assert r.status_code == 200 and ids(r) == ["r3"] and r.json()["strategy"] == "text"
    unknown = client.post("/v1/recommendations", json={"user_id": "brand-new", "k": 3})
    assert unknown.status_code == 200 and unknown.json()["fallback"] == "popular"
    known = client.post("/v1/recommendations", json={"user_id": "u_coffee", "k": 1})
    assert known.json()["strategy"] == "personal"


def test_query_texts_reach_the_encoder_once_per_worker(client: TestClient):
    """A text request's texts are encoded once whether its ranking runs on the loop or in a thread (ranking
    and ads ask for them); the same texts again are answered identically from the remembered vectors."""
    encoder = client.app.state.tenants["default"].served.encoder
    body = {"texts": [" gps running watch ", "coffee"], "k": 3}
    first = client.post("/v1/recommendations", json=body)
    misses = encoder.misses
    assert first.status_code == 200 and misses == 2  # "gps running watch" (stripped) and "coffee"
    again = client.post("/v1/recommendations", json=body)
    assert again.json()["results"] == first.json()["results"] and encoder.misses == misses and encoder.hits > 0


def test_a_repeated_text_searches_the_index_once_and_live_counters_still_move_its_answer(client: TestClient):
    """The search behind a free-text query is remembered per version (`MemoSearch`); what the events change
    (popularity) is applied per request on top of it, so the next answer moves with them."""
    served = client.app.state.tenants["default"].served
    memo = served.text_index
    assert memo is not None and memo.capacity == client.app.state.settings.query_cache_texts

    def run_parts() -> dict[str, float]:
        body = client.post("/v1/recommendations", json={"texts": ["running"], "k": 9, "explain": True}).json()
        return {r["product_id"]: r["parts"]["popularity"] for r in body["results"]}

    before = run_parts()
    assert memo.misses == 1 and memo.hits == 0 and "r3" in before
    assert run_parts() == before and (memo.hits, memo.misses) == (1, 1)
    events = [{"user_id": f"fan{i}", "product_id": "r3", "event_type": "purchase", "timestamp": TS}
              for i in range(30)]
    assert client.post("/v1/events", json={"events": events}).status_code == 200
    after = run_parts()
    assert after["r3"] > before["r3"] and (memo.hits, memo.misses) == (2, 1)
    metrics = client.get("/metrics").text
    assert 'recsys_cache_lookups_total{cache="text_searches",result="hit",tenant="default"} 2.0' in metrics


def test_unknowns_are_404_with_a_hint(client: TestClient):
    r = client.get("/v1/users/nobody/recommendations")
    assert r.status_code == 404 and "POST /v1/recommendations" in r.json()["hint"]
    assert client.get("/v1/items/nope/similar").status_code == 404
    assert client.get("/v1/users/nobody/profile").status_code == 404


@pytest.mark.parametrize("method, path, body", [
    ("get", "/v1/users/u_coffee/recommendations?k=0", None),
    ("get", "/v1/users/u_coffee/recommendations?k=21", None),  # over max_k
    ("get", "/v1/users/u_coffee/recommendations?k=abc", None),
    ("get", "/v1/users/u_coffee/recommendations?diversity=2", None),
    ("get", "/v1/users/u_coffee/recommendations?config=missing", None),
    ("get", "/v1/users/u_coffee/recommendations?weights=notjson", None),
    ("get", '/v1/users/u_coffee/recommendations?weights={"cosine":-1}', None),
    ("get", '/v1/users/u_coffee/recommendations?weights={"cosine":1e400}', None),  # inf
    ("get", "/v1/users/u_coffee/recommendations?max_price=nan", None),
    ("post", "/v1/recommendations", {"k": 3}),
    ("post", "/v1/recommendations", {"texts": ["x"], "k": 3, "surprise": 1}),
    ("post", "/v1/events", {"events": "not a list"}),
    ("post", "/v1/events", {"events": []}),
    ("post", "/v1/events", {"events": [{"user_id": "u", "product_id": "c1", "event_type": "teleport",
                                        "timestamp": TS}]}),
    ("post", "/v1/events", {"events": [{"user_id": "u", "product_id": "c1", "event_type": "view",
                                        "timestamp": "yesterday"}]}),
    ("post", "/v1/events", {"events": [{"user_id": "u", "product_id": "c1", "event_type": "rating",
                                        "timestamp": TS, "rating": 9}]}),
    ("post", "/v1/events", {"events": [{"user_id": "u", "event_type": "view", "timestamp": TS}]}),
    ("post", "/v1/events", {"events": [{"user_id": "u", "product_id": "c1", "event_type": "view",
                                        "timestamp": 1700000000}]}),  # epoch numbers are ambiguous
    ("post", "/v1/events", {"events": [{"user_id": "u", "product_id": "c1", "event_type": "view",
                                        "timestamp": "9999-12-31T23:59:59Z"}]}),  # regression: was a 500
    ("post", "/v1/events", {"events": [{"user_id": " ", "product_id": "c1", "event_type": "view",
                                        "timestamp": TS}]}),
    ("post", "/v1/events", {"events": [{"user_id": "u", "product_id": "c1", "event_type": "view",
                                        "timestamp": TS}] * 51}),  # over the batch limit
])
def test_bad_input_is_422_and_stores_nothing(client: TestClient, method: str, path: str, body):
    store = client.app.state.store
    before = store.count("default")
    r = getattr(client, method)(path, **({"json": body} if body is not None else {}))
    assert r.status_code == 422, r.text
    assert store.count("default") == before


def test_a_batch_with_one_unknown_product_is_refused_whole(client: TestClient):
    good = {"user_id": "u_new", "product_id": "c1", "event_type": "view", "timestamp": TS}
    r = client.post("/v1/events", json={"events": [good, {**good, "product_id": "ghost"}]})
    assert r.status_code == 422 and "ghost" in r.text
    assert client.app.state.store.count("default") == 0
    assert client.get("/v1/users/u_new/recommendations").status_code == 404


def test_malformed_json_and_oversized_bodies(client: TestClient):
    r = client.post("/v1/events", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    big = {"events": [{"user_id": "u", "product_id": "c1", "event_type": "view", "timestamp": TS,
                       "text": "x" * 9_000}] * 3}
    assert client.post("/v1/events", json=big).status_code == 413
    assert client.app.state.store.count("default") == 0


def test_events_are_reflected_in_the_next_request(client: TestClient):
    before = ids(client.get("/v1/users/u_coffee/recommendations?k=9"))
    assert before[0] == "c3"
    r = client.post("/v1/events", json={"events": [
        {"user_id": "u_coffee", "product_id": "c3", "event_type": "purchase", "timestamp": TS},
        {"user_id": "u_coffee", "event_type": "search", "timestamp": TS, "text": "running shoes and socks"},
        {"user_id": "u_coffee", "product_id": "r1", "event_type": "purchase", "timestamp": TS}]})
    assert r.status_code == 200 and r.json()["accepted"] == 3
    after = ids(client.get("/v1/users/u_coffee/recommendations?k=9"))
    assert "c3" not in after and "r1" not in after  # seen items are excluded at once
    assert after[0] in {"r2", "r3"}  # the profile moved toward running
    prof = client.get("/v1/users/u_coffee/profile").json()
    assert prof["live_events"] == 3 and {"r1", "c3"} <= {i["product_id"] for i in prof["items"]}
    assert prof["searches"][0]["text"] == "running shoes and socks"


def test_a_batch_meeting_another_writer_waits_for_it_and_is_stored(client: TestClient, tmp_path: Path):
    """Another process holding the events database's writer lock (here: this test, through its own open
    file): the batch is stored once it lets go, whether the service tried to write on the event loop first
    or wrote from a thread; the loop keeps answering reads meanwhile."""
    done: dict[str, Any] = {}
    batch = {"events": [{"user_id": "waiter", "product_id": "c3", "event_type": "view", "timestamp": TS}]}
    with open(tmp_path / "ev.db-writer.lock", "r+b") as other:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        poster = threading.Thread(target=lambda: done.update(r=client.post("/v1/events", json=batch)))
        poster.start()
        time.sleep(0.3)
        assert "r" not in done, "the batch was answered while another writer held the lock"
        assert client.get("/v1/users/u_coffee/recommendations?k=2").status_code == 200
        fcntl.flock(other.fileno(), fcntl.LOCK_UN)
        poster.join(30)
    resp = done["r"]
    assert resp.status_code == 200 and resp.json()["accepted"] == 1
    assert client.get("/v1/users/waiter/profile").json()["live_events"] == 1


def test_a_new_user_becomes_known_after_events(client: TestClient):
    ev = {"user_id": "fresh", "event_type": "search", "timestamp": TS, "text": "mystery novel"}
    assert client.post("/v1/events", json={"events": [ev]}).status_code == 200
    r = client.get("/v1/users/fresh/recommendations?k=2")
    assert r.status_code == 200 and r.json()["strategy"] == "personal"
    assert set(ids(r)) <= {"b1", "b3", "b2"}


def test_popularity_counters_update_on_ingest(client: TestClient):
    def pop_of(pid: str) -> float:
        res = client.post("/v1/recommendations", json={"user_id": "cold", "k": 9}).json()["results"]
        return next((x["parts"]["popularity"] for x in res if x["product_id"] == pid), 0.0)

    before = pop_of("r3")
    events = [{"user_id": f"fan{i}", "product_id": "r3", "event_type": "purchase", "timestamp": TS}
              for i in range(30)]
    assert client.post("/v1/events", json={"events": events}).status_code == 200
    assert pop_of("r3") > before
    cold = client.post("/v1/recommendations", json={"user_id": "cold", "k": 1}).json()
    assert ids_of(cold) == ["r3"]


def ids_of(body: dict) -> list[str]:
    return [r["product_id"] for r in body["results"]]


def test_blend_configs_per_request_and_ab_log(client: TestClient, caplog: pytest.LogCaptureFixture):
    base = client.get("/v1/users/u_coffee/recommendations?k=3&config=base").json()
    pop = client.get("/v1/users/u_coffee/recommendations?k=3&config=pop").json()
    assert base["config_id"].startswith("base-") and pop["config_id"].startswith("pop-")
    assert all(r["parts"]["cosine"] == 0 for r in pop["results"])
    inline = client.get('/v1/users/u_coffee/recommendations?k=3&weights={"popularity":0.9}').json()
    assert inline["config_id"] not in {base["config_id"], pop["config_id"]}
    with caplog.at_level(logging.INFO, logger="recsys.service.answers"):
        arms = {client.get("/v1/users/u_coffee/recommendations?k=3&experiment=exp").json()["arm"] for _ in range(3)}
    assert len(arms) == 1  # the same user always lands in the same arm
    line = json.loads(caplog.records[-1].getMessage())
    assert line["user_id"] == "u_coffee" and line["experiment"] == "exp" and line["arm"] in {"a", "b"}
    assert line["config_id"].startswith({"a": "base", "b": "pop"}[line["arm"]])


def test_health_readiness_metrics_and_docs(client: TestClient):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["ready"] is True
    client.get("/v1/users/u_coffee/recommendations?k=2")
    client.post("/v1/events", json={"events": [{"user_id": "m", "product_id": "c1", "event_type": "view",
                                                "timestamp": TS}]})
    text = client.get("/metrics").text
    assert 'recsys_requests_total{method="GET",route="/v1/users/{user_id}/recommendations",status="200"}' in text
    assert "recsys_request_seconds_bucket" in text and "recsys_index_info{" in text
    assert 'recsys_events_ingested_total{event_type="view",tenant="default"} 1.0' in text
    assert client.get("/docs").status_code == 200
    assert "/v1/events" in client.get("/openapi.json").json()["paths"]


def test_not_ready_is_503(tiny_index: Path, tmp_path: Path):
    app = create_app(Settings(index=tiny_index, events_db=tmp_path / "ev.db"))
    c = CheckedClient(app)  # no context manager: the lifespan never ran
    assert c.get("/readyz").status_code == 503
    assert c.get("/v1/users/u_coffee/recommendations").status_code == 503
