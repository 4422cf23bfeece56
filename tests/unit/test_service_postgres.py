"""The HTTP service end to end over the PostgreSQL event store: `Settings(events_db="postgresql://…")` (or
`recsys serve --events-db postgresql://…`) makes the app store events on the server, reflect them in the
next answer, keep them across a restart and store a retried batch once. Tests that need a server skip
without RECSYS_TEST_POSTGRES_DSN (a fresh schema each, see `pg.py`)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from recsys.service import Settings, create_app
from recsys.store import PostgresEventStore

from .pg import fresh_schema
from .test_http_contract import CheckedClient

REPO = Path(__file__).resolve().parents[2]
TS = "2024-03-01T00:00:00Z"


@pytest.fixture()
def dsn() -> Iterator[str]:
    with fresh_schema() as url:
        yield url


@pytest.fixture()
def client(tiny_index: Path, dsn: str) -> Iterator[TestClient]:
    with CheckedClient(create_app(Settings(index=tiny_index, events_db=dsn))) as c:
        yield c


def _ids(r) -> list[str]:
    return [x["product_id"] for x in r.json()["results"]]


def test_settings_take_a_postgres_url_or_a_sqlite_path(tmp_path: Path):
    url = Settings(index=tmp_path, events_db="postgresql://alice:s3cret@db.internal:5433/events")
    assert url.events_path == "postgresql://alice:s3cret@db.internal:5433/events"  # opened as given
    assert url.events_label == "postgresql://alice@db.internal:5433/events"  # shown without the password
    path = Settings(index=tmp_path, events_db=tmp_path / "ev.db")
    assert path.events_path == tmp_path / "ev.db" and isinstance(path.events_path, Path)
    assert Settings(index=tmp_path, events_db=str(tmp_path / "ev.db")).events_path == tmp_path / "ev.db"
    assert Settings(index=tmp_path).events_path == tmp_path / "events.db"


def test_serve_with_an_unreachable_server_exits_4_with_one_line_and_no_password(tiny_index: Path):
    r = subprocess.run([sys.executable, "-m", "recsys.cli.main", "serve", "--index", str(tiny_index), "--port", "0",
                        "--events-db", "postgresql://alice:s3cret@127.0.0.1:1/events"],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 4, r.stderr
    assert "Traceback" not in r.stderr and "s3cret" not in r.stderr + r.stdout
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot open events database postgresql://alice@127.0.0.1:1/events" in errors[0]


def test_events_are_stored_on_the_server_and_reflected_in_the_next_answer(client: TestClient):
    assert isinstance(client.app.state.store, PostgresEventStore)
    assert _ids(client.get("/v1/users/u_coffee/recommendations?k=9"))[0] == "c3"
    r = client.post("/v1/events", json={"events": [
        {"user_id": "u_coffee", "product_id": "c3", "event_type": "purchase", "timestamp": TS},
        {"user_id": "u_coffee", "event_type": "search", "timestamp": TS, "text": "running shoes and socks"},
        {"user_id": "u_coffee", "product_id": "r1", "event_type": "purchase", "timestamp": TS}]})
    assert r.status_code == 200 and r.json()["accepted"] == 3 and r.json()["durable"] is True
    after = _ids(client.get("/v1/users/u_coffee/recommendations?k=9"))
    assert "c3" not in after and "r1" not in after and after[0] in {"r2", "r3"}
    prof = client.get("/v1/users/u_coffee/profile").json()
    assert prof["live_events"] == 3 and prof["searches"][0]["text"] == "running shoes and socks"
    assert client.app.state.store.count("default") == 3


def test_a_retried_idempotency_key_batch_is_stored_once(client: TestClient):
    batch = {"events": [{"user_id": f"fan{i}", "product_id": "r3", "event_type": "purchase", "timestamp": TS,
                         "event_id": f"e{i}"} for i in range(3)]}
    headers = {"Idempotency-Key": "batch-0001"}
    first = client.post("/v1/events", json=batch, headers=headers)
    assert first.status_code == 200 and first.json()["accepted"] == 3
    again = client.post("/v1/events", json=batch, headers=headers)
    assert again.status_code == 200 and again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    other = client.post("/v1/events", json={"events": batch["events"][:1]}, headers=headers)
    assert other.status_code == 409 and other.json()["error"] == "IdempotencyConflictError"
    retry_without_key = client.post("/v1/events", json=batch)  # only the event ids protect it now
    assert retry_without_key.json()["accepted"] == 0 and retry_without_key.json()["duplicates"] == 3
    assert client.app.state.store.count("default") == 3


def test_events_survive_a_restart_of_the_service(tiny_index: Path, dsn: str):
    settings = Settings(index=tiny_index, events_db=dsn)
    ev = {"user_id": "newcomer", "event_type": "search", "timestamp": TS, "text": "mystery novel"}
    with TestClient(create_app(settings)) as c:
        assert c.post("/v1/events", json={"events": [ev]}, headers={"Idempotency-Key": "k"}).status_code == 200
    with TestClient(create_app(settings)) as c:  # a new process: new pool, same server
        assert c.get("/v1/users/newcomer/profile").json()["live_events"] == 1
        r = c.post("/v1/events", json={"events": [ev]}, headers={"Idempotency-Key": "k"})
        assert r.headers["Idempotent-Replayed"] == "true" and c.app.state.store.count("default") == 1
