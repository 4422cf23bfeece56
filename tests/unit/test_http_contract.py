"""The HTTP contract: every answer the service gives is declared in its OpenAPI schema.

`CheckedClient` is a TestClient that checks each response it receives against `app.openapi()`: the
status must be declared for that path and method, the media type must match, and a JSON body must
conform to the declared schema, where an object without `additionalProperties` is closed (an
undeclared key fails), and must also validate against the route's pydantic model. The API tests in
test_service_api.py use it too, so every answer they produce is checked the same way.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from recsys.build.pipeline import BuildOptions, build_index
from recsys.data.dataset import make_dataset
from recsys.encoders import make_encoder
from recsys.service import Settings, create_app, schemas
from recsys.service.keys import create_key
from recsys.service.schemas import RecommendationsOut

from ..conftest import tiny_frames

TS = "2024-03-01T00:00:00Z"
JSON = "application/json"

# -- a small JSON-schema check over the OpenAPI document (the `jsonschema` package is not a dependency) --------

_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _deref(schema: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        prefix = "#/components/schemas/"
        assert schema["$ref"].startswith(prefix), schema["$ref"]
        schema = doc["components"]["schemas"][schema["$ref"][len(prefix):]]
    return schema


def conform(value: Any, schema: dict[str, Any], doc: dict[str, Any], where: str = "$") -> list[str]:
    """Why `value` does not conform to `schema` (empty when it does). Checks types, enum/const, required
    and declared keys, items; `additionalProperties` absent counts as false."""
    schema = _deref(schema, doc)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            tries = [conform(value, s, doc, where) for s in schema[key]]
            return [] if any(not t for t in tries) else min(tries, key=len)
    errors = [e for s in schema.get("allOf", []) for e in conform(value, s, doc, where)]
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} is not one of {schema['enum']}")
    declared = schema.get("type")
    if declared is None:
        return errors
    types = declared if isinstance(declared, list) else [declared]
    if not any(_TYPES[t](value) for t in types):
        return [*errors, f"{where}: {type(value).__name__} {value!r:.60} is not {declared}"]
    if isinstance(value, dict):
        props = schema.get("properties", {})
        errors += [f"{where}: missing required {k!r}" for k in schema.get("required", []) if k not in value]
        more = schema.get("additionalProperties", False)
        for k, v in value.items():
            if k in props:
                errors += conform(v, props[k], doc, f"{where}.{k}")
            elif isinstance(more, dict):
                errors += conform(v, more, doc, f"{where}.{k}")
            elif more is not True:
                errors.append(f"{where}: key {k!r} is not declared")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            errors += conform(v, schema["items"], doc, f"{where}[{i}]")
    return errors


def _operation(doc: dict[str, Any], method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """The OpenAPI path template and operation that `method path` is an instance of."""
    for template, ops in doc["paths"].items():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        if method.lower() in ops and re.fullmatch(pattern, path):
            return template, ops[method.lower()]
    return None


#: Response component name → the pydantic model it was generated from, for a second, independent check.
_MODELS = {name: cls for name, cls in vars(schemas).items()
           if isinstance(cls, type) and issubclass(cls, BaseModel) and not name.startswith("_")}


class CheckedClient(TestClient):
    """A TestClient that asserts every response is one the OpenAPI schema declares (see the module
    docstring); `seen` records (method, path template, status) of each checked answer."""

    def __init__(self, app: FastAPI, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.seen: set[tuple[str, str, int]] = set()

    def request(self, method: str, url: Any, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        resp = super().request(method, url, **kwargs)
        self.check(resp)
        return resp

    @property
    def doc(self) -> dict[str, Any]:
        return self.app.openapi()  # type: ignore[attr-defined]  # FastAPI builds it once and caches it

    def check(self, resp: httpx.Response) -> None:
        method, path, status = resp.request.method, resp.request.url.path, resp.status_code
        found = _operation(self.doc, method, path)
        if found is None:  # documentation and unknown paths: only errors need checking
            if status >= 400:
                self._check_body(resp, {"$ref": "#/components/schemas/ErrorOut"}, f"{method} {path}")
            else:
                assert path in ("/docs", "/openapi.json"), f"{method} {path} answered {status} but is not in the schema"
            return
        template, op = found
        where = f"{method} {template} → {status}"
        declared = op["responses"]
        assert str(status) in declared, f"{where}: status not declared (declared: {sorted(declared)}): {resp.text}"
        content = declared[str(status)].get("content", {})
        media = resp.headers.get("content-type", "").split(";")[0].strip()
        if JSON in content:
            self._check_body(resp, content[JSON]["schema"], where)
        else:
            assert media in content, f"{where}: {media!r} is not declared ({sorted(content)})"
        self.seen.add((method, template, status))

    def _check_body(self, resp: httpx.Response, schema: dict[str, Any], where: str) -> None:
        media = resp.headers.get("content-type", "").split(";")[0].strip()
        assert media == JSON, f"{where}: answered {media!r}, declared {JSON}: {resp.text[:200]}"
        problems = conform(resp.json(), schema, self.doc)
        assert not problems, f"{where}: body does not match the OpenAPI schema: {problems}\n{resp.text[:500]}"
        name = schema.get("$ref", "").rsplit("/", 1)[-1]
        assert name in _MODELS, f"{where}: the declared body {schema} is not one of the service's response models"
        _MODELS[name].model_validate_json(resp.content)


# -- the representative calls --------------------------------------------------------------------------------

def _campaigns(path: Path) -> Path:
    pd.DataFrame([
        dict(campaign_id="mugs", advertiser="cafe", landing_product_ids=["c3", "c2"], keywords=["espresso"],
             bid_type="cpc", bid=1.0, total_budget=2.0, seed_user_ids=[]),
        dict(campaign_id="novels", advertiser="press", headline="detective mystery novels", landing_product_ids=[],
             keywords=[], bid_type="cpm", bid=4.0, total_budget=None, seed_user_ids=[]),
    ]).to_parquet(path)
    return path


@pytest.fixture()
def client(tiny_index: Path, tmp_path: Path):
    cfg = tmp_path / "blends.json"
    cfg.write_text(json.dumps({"configs": {"base": {}, "pop": {"weights": {"popularity": 1.0}}},
                               "experiments": {"exp": {"arms": {"a": "base", "b": "pop"}}}}))
    settings = Settings(index=tiny_index, events_db=tmp_path / "ev.db", config=cfg, max_k=20, max_body_bytes=20_000,
                        campaigns=_campaigns(tmp_path / "campaigns.parquet"), ads_relevance_floor=0.05,
                        ads_min_percentile=0.0)
    with CheckedClient(create_app(settings)) as c:
        yield c


def test_every_endpoint_answers_what_its_schema_declares(client: CheckedClient):
    u = "/v1/users/u_coffee"
    for explain in ("false", "true"):
        assert client.get(f"{u}/recommendations", params={"k": 3, "explain": explain, "ads": 2}).status_code == 200
        assert client.get("/v1/items/c1/similar", params={"k": 2, "explain": explain, "ads": 2}).status_code == 200
    assert client.get(f"{u}/recommendations?k=2&experiment=exp").json()["arm"] in {"a", "b"}
    assert client.post("/v1/recommendations", json={"texts": ["espresso coffee mug"], "k": 2, "ads": 3,
                                                    "explain": True}).json()["ads"]  # an ad is in the answer
    assert client.post("/v1/recommendations", json={"user_id": "u_coffee", "k": 2}).status_code == 200
    assert client.post("/v1/recommendations", json={"user_id": "brand-new", "k": 2}).json()["fallback"] == "popular"
    ev = {"user_id": "u_coffee", "product_id": "r1", "event_type": "purchase", "timestamp": TS}
    search = {"user_id": "u_coffee", "event_type": "search", "timestamp": TS, "text": "running socks"}
    assert client.post("/v1/events", json={"events": [ev, search]}).json()["accepted"] == 2
    prof = client.get(f"{u}/profile", params={"top": 3}).json()
    assert prof["live_events"] == 2 and prof["interests"] and prof["searches"]
    assert client.get("/v1/users/u_search/profile").status_code == 200  # searches only: no items
    assert client.post("/v1/admin/reload").json()["changed"] is False
    assert client.get("/v1/dashboard/overview").json()["campaigns"] == 2
    assert client.get("/v1/dashboard/live", params={"minutes": 5, "top": 3}).json()["total"] == 2
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 200
    # errors: unknown user / item, invalid input of both kinds (FastAPI's validation, the service's own)
    assert client.get("/v1/users/nobody/recommendations").status_code == 404
    assert client.get("/v1/users/nobody/profile").status_code == 404
    assert client.get("/v1/items/nope/similar").status_code == 404
    assert client.get(f"{u}/recommendations?k=0").status_code == 422
    assert client.get(f"{u}/recommendations?k=21").status_code == 422
    assert client.get(f"{u}/recommendations?config=missing").status_code == 422
    assert client.get("/v1/users/u_coffee/profile?top=0").status_code == 422
    assert client.post("/v1/recommendations", json={"k": 3}).status_code == 422
    assert client.post("/v1/recommendations", json={"texts": ["x"], "surprise": 1}).status_code == 422
    assert client.post("/v1/events", json={"events": [{**ev, "product_id": "ghost"}]}).status_code == 422
    assert client.post("/v1/events", content=b"{not json", headers={"Content-Type": JSON}).status_code == 422
    big = {"events": [{**ev, "text": "x" * 9_000}] * 3}
    assert client.post("/v1/events", json=big).status_code == 413
    assert client.get("/v1/no-such-route").status_code == 404

    doc = client.app.openapi()
    operations = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    answered = {(m, p) for m, p, s in client.seen if 200 <= s < 300}
    assert operations == answered, f"operations never answered successfully: {operations - answered}"
    assert {s for *_, s in client.seen} >= {200, 404, 413, 422}


def test_unexplained_results_omit_sources_and_because(client: CheckedClient):
    lean = client.get("/v1/users/u_coffee/recommendations?k=2").json()
    full = client.get("/v1/users/u_coffee/recommendations?k=2&explain=true").json()
    assert set(lean["results"][0]) == {"product_id", "title", "score", "parts"}
    assert set(full["results"][0]) == {"product_id", "title", "score", "parts", "sources", "because"}
    assert "extra" not in full and {"ads", "experiment", "arm", "fallback", "user_id"} <= full.keys()


def test_auth_errors_are_declared(tiny_index: Path, tmp_path: Path):
    keys = tmp_path / "keys.json"
    user, _ = create_key(keys, "shop")
    admin, _ = create_key(keys, "shop", admin=True)
    with CheckedClient(create_app(Settings(index=tiny_index, keys=keys, events_db=tmp_path / "ev.db"))) as c:
        assert c.get("/v1/users/u_coffee/recommendations").status_code == 401
        assert c.get("/v1/users/u_coffee/profile", headers={"X-API-Key": "rk_wrong"}).status_code == 401
        assert c.post("/v1/events", json={"events": "x"}).status_code == 401
        assert c.post("/v1/admin/reload", headers={"X-API-Key": user}).status_code == 403
        assert c.post("/v1/admin/reload", headers={"X-API-Key": admin}).status_code == 200
        assert c.get("/v1/items/c1/similar", headers={"X-API-Key": user}).status_code == 200
    assert {s for *_, s in c.seen} == {200, 401, 403}


def test_refused_reload_and_not_ready_are_declared(tmp_path: Path):
    products, events = tiny_frames()
    root = tmp_path / "idx"
    build_index(make_dataset(products, events, "t"), root, make_encoder("hashing-256"), BuildOptions(progress=False))
    with CheckedClient(create_app(Settings(index=root, events_db=tmp_path / "ev.db"))) as c:
        build_index(make_dataset(products, events, "t"), root, make_encoder("hashing-128"),
                    BuildOptions(progress=False))
        assert c.post("/v1/admin/reload").status_code == 409
    cold = CheckedClient(create_app(Settings(index=root, events_db=tmp_path / "ev2.db")))  # lifespan never ran
    assert cold.get("/readyz").json() == {"ready": False}
    assert cold.get("/v1/users/u_coffee/recommendations").status_code == 503
    assert {s for *_, s in c.seen | cold.seen} == {409, 503}


def test_response_schemas_are_closed(client: CheckedClient):
    """Every object a response can contain lists its keys (or types its values, as `parts` does)."""
    doc = client.app.openapi()
    assert "HTTPValidationError" not in doc["components"]["schemas"]  # 422s are ErrorOut too
    refs: set[str] = set()
    for ops in doc["paths"].values():
        for op in ops.values():
            for answer in op["responses"].values():
                refs |= set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(answer)))
    todo, done = list(refs), set()
    while todo:
        name = todo.pop()
        if name in done:
            continue
        done.add(name)
        schema = doc["components"]["schemas"][name]
        if schema.get("type") == "object":
            assert schema.get("additionalProperties") is False, f"{name} is open to undeclared keys"
        todo += re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(schema))
    assert {"RecommendationsOut", "Recommendation", "AdMatch", "ProfileOut", "ErrorOut"} <= done


def test_the_check_catches_an_undeclared_field(client: CheckedClient):
    """The answer this service gave before its bodies were built from the declared model carried `extra`."""
    doc = client.app.openapi()
    body = client.get("/v1/users/u_coffee/recommendations?k=1").json()
    schema = {"$ref": "#/components/schemas/RecommendationsOut"}
    assert conform(body, schema, doc) == []
    assert conform({**body, "extra": {}}, schema, doc) == ["$: key 'extra' is not declared"]
    assert conform({**body, "results": [{**body["results"][0], "score": "high"}]}, schema, doc)
    with pytest.raises(ValueError):
        RecommendationsOut.model_validate({**body, "extra": {}})
