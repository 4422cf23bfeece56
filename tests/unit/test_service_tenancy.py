"""API keys and tenants (401/403, isolation), and the index hot swap (atomic, refuses broken or
mismatched indexes while the old one keeps serving)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from recsys.build.pipeline import BuildOptions, build_index
from recsys.data.dataset import make_dataset
from recsys.encoders import make_encoder
from recsys.errors import ConfigError
from recsys.index import point_current, resolve_version
from recsys.service import Settings, create_app
from recsys.service.keys import create_key

from ..conftest import tiny_frames

TS = "2024-03-01T00:00:00Z"


def _build(root: Path, encoder: str = "hashing-256", extra_product: str | None = None,
           other_shop: bool = False) -> Path:
    products, events = tiny_frames()
    if other_shop:  # another tenant: other products, but an overlapping user id
        products = pd.DataFrame({"product_id": ["g1", "g2", "g3"], "title": ["garden hose", "garden rake",
                                 "flower seeds"], "description": "", "category": "Garden", "brand": "",
                                 "price": [20.0, 15.0, 3.0]})
        events = events.iloc[:2].assign(product_id=["g1", "g2"])
    if extra_product:
        products = pd.concat([products, pd.DataFrame({"product_id": [extra_product], "title": ["trail running vest"],
                                                      "description": "", "category": "Sports > Running",
                                                      "brand": "", "price": [60.0]})], ignore_index=True)
    return build_index(make_dataset(products, events, "t"), root, make_encoder(encoder),
                       BuildOptions(progress=False)).path


@pytest.fixture()
def shops(tmp_path: Path):
    root = tmp_path / "indexes"
    _build(root / "shop-a")
    _build(root / "shop-b", other_shop=True)
    keys = tmp_path / "keys.json"
    a, _ = create_key(keys, "shop-a")
    a_admin, _ = create_key(keys, "shop-a", admin=True)
    b, _ = create_key(keys, "shop-b")
    settings = Settings(index=root, keys=keys, events_db=tmp_path / "ev.db")
    with TestClient(create_app(settings)) as c:
        yield c, {"a": {"X-API-Key": a}, "a_admin": {"X-API-Key": a_admin}, "b": {"X-API-Key": b}}


def test_missing_or_wrong_keys_are_401_and_non_admin_is_403(shops):
    c, k = shops
    r = c.get("/v1/users/u_coffee/recommendations")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "ApiKey"
    assert c.get("/v1/users/u_coffee/recommendations", headers={"X-API-Key": "rk_wrong"}).status_code == 401
    assert c.post("/v1/events", json={"events": "x"}).status_code == 401  # auth before body validation
    assert c.post("/v1/admin/reload", headers=k["a"]).status_code == 403
    assert c.post("/v1/admin/reload", headers=k["a_admin"]).status_code == 200
    assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200


def test_each_tenant_sees_only_its_own_index_and_events(shops):
    c, k = shops
    a = c.get("/v1/users/u_coffee/recommendations?k=9", headers=k["a"]).json()
    b = c.get("/v1/users/u_coffee/recommendations?k=9", headers=k["b"]).json()
    assert {r["product_id"][0] for r in a["results"]} <= {"c", "r", "b"}
    assert {r["product_id"] for r in b["results"]} <= {"g1", "g2", "g3"}
    assert c.get("/v1/items/c1/similar", headers=k["b"]).status_code == 404
    ev = {"user_id": "only-in-a", "product_id": "c1", "event_type": "purchase", "timestamp": TS}
    assert c.post("/v1/events", json={"events": [ev]}, headers=k["a"]).status_code == 200
    assert c.post("/v1/events", json={"events": [ev]}, headers=k["b"]).status_code == 422  # c1 is not b's
    assert c.get("/v1/users/only-in-a/recommendations", headers=k["a"]).status_code == 200
    assert c.get("/v1/users/only-in-a/recommendations", headers=k["b"]).status_code == 404
    assert c.get("/v1/users/only-in-a/profile", headers=k["b"]).status_code == 404
    store = c.app.state.store
    assert store.count("shop-a") == 1 and store.count("shop-b") == 0


def test_a_single_index_with_several_tenants_is_refused(tiny_index: Path, tmp_path: Path):
    keys = tmp_path / "keys.json"
    create_key(keys, "a")
    create_key(keys, "b")
    with pytest.raises(ConfigError, match="single index"), \
            TestClient(create_app(Settings(index=tiny_index, keys=keys, events_db=tmp_path / "e.db"))):
        pass


def test_open_mode_refuses_a_public_address(tiny_index: Path, tmp_path: Path):
    with pytest.raises(ConfigError, match="loopback"), \
            TestClient(create_app(Settings(index=tiny_index, host="0.0.0.0", events_db=tmp_path / "e.db"))):
        pass


@pytest.fixture()
def swap(tmp_path: Path):
    root = tmp_path / "idx"
    v1 = _build(root)
    with TestClient(create_app(Settings(index=root, events_db=tmp_path / "ev.db"))) as c:
        yield c, root, v1


def _version(c: TestClient) -> str:
    return c.get("/v1/users/u_coffee/recommendations?k=2").json()["index_version"]


def test_reload_switches_to_the_new_current_version(swap):
    c, root, v1 = swap
    assert c.post("/v1/admin/reload").json()["changed"] is False
    assert c.get("/v1/items/n1/similar").status_code == 404
    v2 = _build(root, extra_product="n1")
    r = c.post("/v1/admin/reload")
    assert r.status_code == 200 and r.json() == {"tenant": "default", "previous_version": v1.name,
                                                 "version": v2.name, "changed": True}
    assert _version(c) == v2.name and c.get("/v1/items/n1/similar").status_code == 200
    assert f'recsys_index_info{{tenant="default",version="{v2.name}"}} 1.0' in c.get("/metrics").text


def _broken_copy(root: Path, good: Path, how: str) -> None:
    bad = root / "broken-version"
    shutil.copytree(good, bad)
    if how == "garbage-faiss":
        (bad / "index.faiss").write_bytes(b"not a faiss index")
    elif how == "checksum":
        with (bad / "blend.json").open("a") as fh:
            fh.write(" ")
    elif how == "missing-file":
        (bad / "signals.parquet").unlink()
    point_current(root, bad.name)


@pytest.mark.parametrize("how", ["garbage-faiss", "checksum", "missing-file"])
def test_a_broken_index_is_refused_and_the_old_one_keeps_serving(swap, how: str):
    c, root, v1 = swap
    _broken_copy(root, v1, how)
    r = c.post("/v1/admin/reload")
    assert r.status_code == 409
    assert "refused" in r.json()["detail"] and v1.name in r.json()["detail"]
    assert _version(c) == v1.name
    assert 'recsys_index_reloads_total{outcome="refused",tenant="default"} 1.0' in c.get("/metrics").text


def test_an_index_of_another_encoder_is_refused(swap):
    c, root, v1 = swap
    _build(root, encoder="hashing-128")
    r = c.post("/v1/admin/reload")
    assert r.status_code == 409 and "hashing-128" in r.json()["detail"]
    assert _version(c) == v1.name and resolve_version(root).name != v1.name


def test_requests_in_flight_during_a_swap_all_succeed(swap):
    c, root, v1 = swap
    v2 = _build(root, extra_product="n1")
    seen: list[tuple[int, str]] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            r = c.get("/v1/users/u_coffee/recommendations?k=3")
            seen.append((r.status_code, r.json().get("index_version", "")))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        assert c.post("/v1/admin/reload").status_code == 200
        for _ in range(20):
            c.get("/healthz")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert seen and all(s == 200 for s, _ in seen)
    assert {v for _, v in seen} <= {v1.name, v2.name} and seen[-1][1] == v2.name


def test_events_survive_a_swap(swap):
    c, root, _ = swap
    ev = {"user_id": "u_coffee", "product_id": "c3", "event_type": "purchase", "timestamp": TS}
    assert c.post("/v1/events", json={"events": [ev]}).status_code == 200
    _build(root, extra_product="n1")
    assert c.post("/v1/admin/reload").json()["changed"] is True
    assert "c3" not in [r["product_id"] for r in c.get("/v1/users/u_coffee/recommendations?k=9").json()["results"]]
