"""One error shape from every layer of the HTTP service (framework validation, body size, routing, our own
errors, unexpected exceptions), non-finite numbers and invalid Unicode refused with 422 and nothing
stored, bounded blend weights, /metrics behind a key, and named configs per tenant."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from recsys.config import MAX_WEIGHT, BlendConfig, parse_config
from recsys.config.catalog import BlendCatalog
from recsys.errors import ConfigError
from recsys.service import Settings, create_app
from recsys.service.body import find_invalid_json_value
from recsys.service.keys import create_key

from .test_service_tenancy import _build

TS = "2024-03-01T00:00:00Z"
JSON = {"content-type": "application/json"}


def _is_error(r, status: int, error: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    assert {"error", "detail"} <= body.keys() and isinstance(body["detail"], str) and body["detail"]
    assert set(body) <= {"error", "detail", "hint", "problems"}
    if error is not None:
        assert body["error"] == error, body
    return body


@pytest.fixture()
def client(tiny_index: Path, tmp_path: Path):
    settings = Settings(index=tiny_index, events_db=tmp_path / "ev.db", max_body_bytes=20_000)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _stored(c: TestClient) -> int:
    return c.app.state.store.count("default")  # type: ignore[attr-defined]


# --- pure check of a body ---------------------------------------------------------------------------------
@pytest.mark.parametrize("body, why", [
    (b'{"k": NaN}', "NaN"), (b'{"w": {"a": Infinity}}', "Infinity"), (b'[-Infinity]', "-Infinity"),
    (b'{"texts": ["ok", "\\ud800x"]}', "body.texts.1"), (b'{"\\udc00": 1}', "body.<key>"),
    (b'{"texts": ["caf\xe9"]}', "not valid UTF-8"), (b"\xff\xfe{}", "not valid UTF-8"),
])
def test_invalid_json_values_are_named(body: bytes, why: str):
    found = find_invalid_json_value(body)
    assert found is not None and why in found


@pytest.mark.parametrize("body", [b'{"k": 1e308, "t": "caf\\u00e9 \\ud83d\\ude00"}', b"{broken", b"", b"[]"])
def test_valid_or_unparseable_bodies_pass_to_the_framework(body: bytes):
    assert find_invalid_json_value(body) is None  # a paired surrogate is one valid character


# --- through the app -------------------------------------------------------------------------------------
EVENT = {"user_id": "u_new", "product_id": "c1", "event_type": "view", "timestamp": TS}


@pytest.mark.parametrize("raw", [
    '{"events": [{"user_id": "u_new", "product_id": "c1", "event_type": "rating", "rating": NaN, '
    f'"timestamp": "{TS}"}}]}}',
    '{"events": [{"user_id": "u_new", "product_id": "c1", "event_type": "rating", "rating": Infinity, '
    f'"timestamp": "{TS}"}}]}}',
    '{"events": [{"user_id": "\\ud800", "product_id": "c1", "event_type": "view", '
    f'"timestamp": "{TS}"}}]}}',
    '{"events": [{"user_id": "u_new", "product_id": "c1", "event_type": "review", "text": "bad \\udfff", '
    f'"timestamp": "{TS}"}}]}}',
    '{"events": [{"user_id": "u_new", "product_id": "c1", "event_type": "rating", "rating": "NaN", '
    f'"timestamp": "{TS}"}}]}}',
])
def test_non_finite_numbers_and_lone_surrogates_in_events_are_422_and_store_nothing(client: TestClient, raw: str):
    before = _stored(client)
    _is_error(client.post("/v1/events", content=raw, headers=JSON), 422, "RequestValidationError")
    assert _stored(client) == before


@pytest.mark.parametrize("raw", [
    '{"texts": ["coffee"], "k": NaN}',
    '{"texts": ["coffee"], "max_price": Infinity}',
    '{"texts": ["coffee"], "max_price": "Infinity"}',
    '{"texts": ["\\ud800 coffee"]}',
    '{"texts": ["coffee"], "weights": {"cosine": 1e308}}',
    '{"texts": ["coffee"], "weights": {"cosine": -1}}',
])
def test_bad_numbers_and_text_in_requests_are_422(client: TestClient, raw: str):
    _is_error(client.post("/v1/recommendations", content=raw, headers=JSON), 422)


@pytest.mark.parametrize("query", ["max_price=inf", "min_price=nan", "diversity=NaN",
                                   'weights={"cosine": 1e308}', 'weights={"cosine": NaN}'])
def test_non_finite_query_values_are_422(client: TestClient, query: str):
    _is_error(client.get(f"/v1/users/u_coffee/recommendations?{query}"), 422)


def test_the_largest_accepted_weight_answers_finite_scores(client: TestClient):
    w = json.dumps({f: MAX_WEIGHT for f in ("cosine", "popularity", "trending", "rating", "cooc", "ease")})
    r = client.get("/v1/users/u_coffee/recommendations", params={"k": 5, "weights": w})
    assert r.status_code == 200
    body = json.loads(r.text, parse_constant=lambda c: pytest.fail(f"non-finite {c} in an answer"))
    for item in body["results"]:
        assert np.isfinite(item["score"]) and all(np.isfinite(v) for v in item["parts"].values())


def test_oversized_bodies_are_a_json_413_with_or_without_content_length(client: TestClient):
    big = json.dumps({"events": [EVENT] * 400})
    assert len(big) > 20_000
    body = _is_error(client.post("/v1/events", content=big, headers=JSON), 413, "PayloadTooLargeError")
    assert "20,000" in body["detail"] and body["hint"]

    def chunks():  # streamed: no Content-Length header, the limit is found while reading
        for i in range(0, len(big), 4096):
            yield big[i:i + 4096].encode()

    _is_error(client.post("/v1/events", content=chunks(), headers=JSON), 413, "PayloadTooLargeError")
    assert _stored(client) == 0


def test_routing_and_framework_errors_share_the_shape(client: TestClient):
    _is_error(client.get("/nope"), 404, "NotFound")
    _is_error(client.delete("/v1/users/u_coffee/recommendations"), 405, "MethodNotAllowed")
    _is_error(client.post("/v1/recommendations", content="{broken", headers=JSON), 422)
    _is_error(client.get("/v1/users/u_coffee/recommendations?k=abc"), 422, "RequestValidationError")
    _is_error(client.get("/v1/users/nobody/recommendations"), 404, "UnknownUserError")


def test_an_unexpected_exception_is_a_json_500_without_internals(client: TestClient, monkeypatch, caplog):
    import recsys.service.routers.recommend as route

    def boom(*args, **kwargs):
        raise RuntimeError("secret internal path /srv/x")

    monkeypatch.setattr(route, "recommend_for_user", boom)
    body = _is_error(client.get("/v1/users/u_coffee/recommendations"), 500, "InternalError")
    assert "secret" not in json.dumps(body) and "RuntimeError" in body["detail"]
    assert any("RuntimeError" in r.getMessage() for r in caplog.records)


def test_weights_are_bounded_in_configs_too():
    with pytest.raises(ConfigError, match="less than or equal to 1000"):
        BlendConfig().with_updates(weights={"cosine": 1e308})
    with pytest.raises(ConfigError):
        parse_config({"weights": {"cosine": float("nan")}}, "test")
    with pytest.raises(ConfigError):
        BlendCatalog().resolve(BlendConfig(), weights={"cosine": float("inf")})


# --- /metrics behind a key ---------------------------------------------------------------------------------
@pytest.fixture()
def keyed(tmp_path: Path):
    root = tmp_path / "indexes"
    _build(root / "shop-a")
    keys = tmp_path / "keys.json"
    user, _ = create_key(keys, "shop-a")
    admin, _ = create_key(keys, "shop-a", admin=True)
    scrape = "scrape-secret-0123456789"
    settings = Settings(index=root, keys=keys, events_db=tmp_path / "ev.db", metrics_key=scrape)
    with TestClient(create_app(settings)) as c:
        yield c, user, admin, scrape


def test_metrics_need_the_metrics_key_or_an_admin_key(keyed):
    c, user, admin, scrape = keyed
    _is_error(c.get("/metrics"), 401, "AuthenticationError")
    _is_error(c.get("/metrics", headers={"X-API-Key": "rk_wrong"}), 401)
    _is_error(c.get("/metrics", headers={"X-API-Key": user}), 403, "PermissionDeniedError")
    assert c.get("/metrics", headers={"X-API-Key": admin}).status_code == 200
    ok = c.get("/metrics", headers={"Authorization": f"Bearer {scrape}"})
    assert ok.status_code == 200 and "recsys_requests_total" in ok.text
    assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200  # probes stay open


# --- named configs per tenant ------------------------------------------------------------------------------
def test_named_configs_are_per_tenant_and_errors_name_only_the_callers(tmp_path: Path):
    root = tmp_path / "indexes"
    _build(root / "shop-a")
    _build(root / "shop-b", other_shop=True)
    keys = tmp_path / "keys.json"
    a, _ = create_key(keys, "shop-a")
    b, _ = create_key(keys, "shop-b")
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "shop-a.json").write_text(json.dumps({"configs": {"a-secret-plan": {"weights": {"cosine": 0}}}}))
    (configs / "shop-b.json").write_text(json.dumps({"configs": {"b-plan": {}}}))
    settings = Settings(index=root, keys=keys, events_db=tmp_path / "ev.db", config=configs)
    with TestClient(create_app(settings)) as c:
        url = "/v1/users/u_coffee/recommendations"
        ok = c.get(url, params={"config": "a-secret-plan"}, headers={"X-API-Key": a})
        assert ok.status_code == 200 and ok.json()["config_id"].startswith("a-secret-plan")
        refused = _is_error(c.get(url, params={"config": "a-secret-plan"}, headers={"X-API-Key": b}), 422)
        assert refused["detail"].count("a-secret-plan") == 1  # the request's own name, not among the known
        assert "b-plan" in refused["detail"]
        assert c.get(url, params={"config": "b-plan"}, headers={"X-API-Key": b}).status_code == 200


def test_a_configs_folder_refuses_two_files_for_one_tenant(tmp_path: Path):
    (tmp_path / "t.json").write_text("{}")
    (tmp_path / "t.toml").write_text("")
    with pytest.raises(ConfigError, match="keep one"):
        BlendCatalog.for_tenants(tmp_path, ["t"])
    assert BlendCatalog.for_tenants(tmp_path, ["other"])["other"].configs == {}


def test_results_with_non_finite_scores_are_dropped_and_logged(tiny_rec, caplog):
    from recsys.ranking.base import Ranked

    ranked = Ranked(positions=np.array([0, 1, 2]), scores=np.array([np.inf, 0.5, np.nan], np.float32),
                    parts={"cosine": np.array([1.0, 0.5, 0.1], np.float32)}, sources=[(), (), ()])
    answer = tiny_rec._answer(ranked, "popular", "popular", None)
    assert [r.score for r in answer.results] == [0.5]
    assert any("non-finite" in r.getMessage() for r in caplog.records)
