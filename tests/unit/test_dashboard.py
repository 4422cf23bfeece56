"""The dashboard: its page and files under a strict Content-Security-Policy, and its read-only views
(`/v1/dashboard/overview`, `/v1/dashboard/live`) answering per tenant, checked against the OpenAPI schema."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from recsys.build.pipeline import BuildOptions, build_index
from recsys.data.dataset import make_dataset
from recsys.encoders import make_encoder
from recsys.service import Settings, create_app
from recsys.service.keys import create_key

from ..conftest import tiny_frames
from .test_http_contract import CheckedClient

TS = "2024-03-01T00:00:00Z"


@pytest.fixture()
def open_client(tiny_index: Path, tmp_path: Path):
    with CheckedClient(create_app(Settings(index=tiny_index, events_db=tmp_path / "ev.db"))) as c:
        yield c


def test_page_and_files_are_served_with_a_strict_csp(open_client: CheckedClient):
    page = TestClient(open_client.app)  # the page is not part of the API schema the CheckedClient knows
    for path, media in (("/dashboard", "text/html"), ("/dashboard/app.js", "text/javascript"),
                        ("/dashboard/app.css", "text/css")):
        r = page.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith(media), path
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and "connect-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
    html = page.get("/dashboard").text
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None, "an inline script would be blocked by the CSP"
    assert " style=" not in html and "<style" not in html, "inline styles would be blocked by the CSP"
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html  # nothing from elsewhere
    missing = page.get("/dashboard/secrets.json")
    assert missing.status_code == 404 and set(missing.json()) == {"error", "detail"}


def test_the_script_never_parses_data_as_html():
    """Product titles and campaign copy are user content: the page places text with textContent only."""
    js = resources.files("recsys.service.dashboard").joinpath("app.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in js, sink


def test_overview_and_live_views_of_an_open_server(open_client: CheckedClient):
    o = open_client.get("/v1/dashboard/overview").json()
    assert o["tenant"] == "default" and o["index_version"] == o["manifest"]["version"]
    assert o["manifest"]["encoder"]["name"] == "hashing-256" and o["manifest"]["index"]["count"] == 9
    assert o["products"] == 9 and o["campaigns"] == 0 and o["evaluation"] is None and o["audiences"] is None
    ev = [{"user_id": "u_run", "product_id": "r3", "event_type": "purchase", "timestamp": TS},
          {"user_id": "u_new", "product_id": "r3", "event_type": "view", "timestamp": TS}]
    assert open_client.post("/v1/events", json={"events": ev}).status_code == 200
    live = open_client.get("/v1/dashboard/live", params={"minutes": 10, "top": 9}).json()
    assert len(live["per_minute"]) == 10 and live["total"] == 2
    assert sum(m["events"] for m in live["per_minute"][-2:]) == 2  # this minute (or the last, at a minute's turn)
    assert live["by_type"] == {"purchase": 1, "view": 1}
    trending = [t["trending"] for t in live["trending"]]
    assert trending == sorted(trending, reverse=True) and len(trending) == 9
    r3 = next(t for t in live["trending"] if t["product_id"] == "r3")
    assert r3["live_weight"] > 0 and r3["trending"] > 0.5  # no stored event before: only the live ones count
    assert open_client.get("/v1/dashboard/overview").json()["events_stored"] == 2
    assert open_client.get("/v1/dashboard/live", params={"minutes": 0}).status_code == 422


def _report(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps({
        "config": {"ks": [10, 20], "scheme": "last-day"}, "split": {"users_evaluated": 7},
        "methods": {"default": {"recall@10": 0.5, "ndcg@10": 0.3, "mrr": 0.25, "coverage@10": 0.8},
                    "ease": {"skipped": True, "reason": "ConfigError: too small"}}}))


def _audiences(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "summary.json").write_text(json.dumps({
        "totals": {"distinct_users": 3, "estimated_cost": 1.5}, "overlap": {"mean_jaccard": 0.1},
        "campaigns": [{"campaign_id": "mugs", "reach": 3, "reach_target": 2, "reach_holdout": 1,
                       "score": {"p50": 0.4}, "estimated_cost": 1.5}]}))


@pytest.fixture()
def two_tenants(tmp_path: Path):
    """Indexes for shop-a (with an evaluation report and audiences beside it) and shop-b, one key each."""
    products, events = tiny_frames()
    root = tmp_path / "indexes"
    for shop, enc in (("shop-a", "hashing-256"), ("shop-b", "hashing-128")):
        build_index(make_dataset(products, events, shop), root / shop, make_encoder(enc), BuildOptions(progress=False))
    _report(root / "shop-a" / "eval")
    _audiences(root / "shop-a" / "audiences")
    (root / "shop-b" / "report.json").write_text("not json")  # skipped, not an error
    keys = tmp_path / "keys.json"
    a, _ = create_key(keys, "shop-a")
    b, _ = create_key(keys, "shop-b")
    with CheckedClient(create_app(Settings(index=root, keys=keys, events_db=tmp_path / "ev.db"))) as c:
        yield c, {"X-API-Key": a}, {"X-API-Key": b}


def test_views_answer_only_for_the_callers_tenant(two_tenants):
    c, a, b = two_tenants
    assert c.get("/v1/dashboard/overview").status_code == 401
    assert c.get("/v1/dashboard/live", headers={"X-API-Key": "rk_wrong"}).status_code == 401
    oa, ob = c.get("/v1/dashboard/overview", headers=a).json(), c.get("/v1/dashboard/overview", headers=b).json()
    assert (oa["tenant"], oa["manifest"]["encoder"]["dim"]) == ("shop-a", 256)
    assert (ob["tenant"], ob["manifest"]["encoder"]["dim"]) == ("shop-b", 128)
    ev = oa["evaluation"]
    assert ev["file"] == "eval/report.json" and ev["k"] == 10 and ev["users_evaluated"] == 7
    assert [(m["method"], m["recall"], m["skipped"]) for m in ev["methods"]] == [
        ("default", 0.5, None), ("ease", None, "ConfigError: too small")]
    assert oa["audiences"]["file"] == "audiences/summary.json"
    assert oa["audiences"]["campaigns"][0]["campaign_id"] == "mugs"
    assert ob["evaluation"] is None and ob["audiences"] is None  # shop-a's files are not shop-b's
    ev_a = {"user_id": "u_run", "product_id": "r3", "event_type": "purchase", "timestamp": TS}
    assert c.post("/v1/events", json={"events": [ev_a]}, headers=a).status_code == 200
    assert c.get("/v1/dashboard/live", headers=a).json()["total"] == 1
    live_b = c.get("/v1/dashboard/live", headers=b).json()
    assert live_b["tenant"] == "shop-b" and live_b["total"] == 0 and live_b["trending"][0]["live_weight"] == 0
    assert c.get("/v1/dashboard/overview", headers=b).json()["events_stored"] == 0
