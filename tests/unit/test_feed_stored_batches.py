"""A process counts the batches it stored from memory (`EventFeed.count_stored`) when nothing else was stored
for the tenant in between, and by reading the store back otherwise. Both paths must leave exactly the same
live state: counters, popularity order and ad ledger, with duplicate event ids and retried idempotency keys
counted once. Node A posts; node B, sharing the events file, only ever reads the store back."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from recsys.service import Settings, create_app

from .test_service_shared_state import TS, shared  # noqa: F401 (a fixture)

PRODUCTS = ["c1", "c2", "c3", "r1", "r2", "r3", "b1", "b2", "b3"]
TYPES = ["view", "click", "cart", "purchase", "rating", "search"]


@pytest.fixture()
def campaigns(tmp_path: Path) -> Path:
    path = tmp_path / "campaigns.parquet"
    pd.DataFrame([dict(campaign_id="mugs", advertiser="cafe", landing_product_ids=["c3"], keywords=["espresso"],
                       bid_type="cpc", bid=1.0, total_budget=100.0, seed_user_ids=[])]).to_parquet(path)
    return path


def _node(root: Path, tmp: Path, stack: ExitStack, campaigns: Path) -> TestClient:
    app = create_app(Settings(index=root, events_db=tmp / "ev.db", campaigns=campaigns, sync_interval=0.0,
                              reload_poll_interval=0.0, log_answers=False))
    return stack.enter_context(TestClient(app))


@pytest.fixture()
def nodes(shared: Path, tmp_path: Path, campaigns: Path) -> Iterator[tuple[TestClient, TestClient]]:  # noqa: F811
    with ExitStack() as stack:
        yield _node(shared, tmp_path, stack, campaigns), _node(shared, tmp_path, stack, campaigns)


def _event(rng: random.Random, n: int) -> dict:
    etype = rng.choice(TYPES)
    event: dict = {"user_id": f"u{rng.randrange(12)}", "event_type": etype, "timestamp": TS}
    if etype == "search" and rng.random() < 0.5:
        event["text"] = "espresso"
    else:
        event["product_id"] = rng.choice(PRODUCTS)
    if etype == "rating":
        event["rating"] = rng.choice([1.0, 3.5, 5.0])
    if rng.random() < 0.4:  # a small id space: repeats inside and across batches
        event["event_id"] = f"e{rng.randrange(3 * n)}"
    if rng.random() < 0.15:
        event.update(event_type=rng.choice(["impression", "click"]), campaign_id="mugs", product_id="c3")
    return event


def _batches(seed: int, n: int = 40) -> list[tuple[dict, dict]]:
    """Seeded request bodies and headers; some are sent again with the same Idempotency-Key."""
    rng = random.Random(seed)
    out: list[tuple[dict, dict]] = []
    for i in range(n):
        if out and rng.random() < 0.2:
            out.append(rng.choice(out))
            continue
        body = {"events": [_event(rng, n) for _ in range(rng.randint(1, 8))]}
        out.append((body, {"Idempotency-Key": f"k{i}"} if rng.random() < 0.5 else {}))
    return out


def _served(node: TestClient):
    return node.app.state.tenants["default"].served


def _live_state(node: TestClient) -> tuple:
    served = _served(node)
    live, ledger = served.live, served.ads.ledger
    return (live.live.tolist(), live.signals.popularity.tolist(), live.signals.trending.tolist(),
            dict(live._best), live.popular_order.tolist(), live.events_applied, dict(ledger._total),
            dict(ledger._daily), {k: list(v) for k, v in ledger._seen.items()}, dict(ledger.pairs),
            ledger.events_applied, served.feed.watermark)


def _read_back_calls(node: TestClient, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    store, calls = node.app.state.store, []
    read = store.events_after

    def counted(tenant: str, after_seq: int, limit: int) -> pd.DataFrame:
        calls.append(after_seq)
        return read(tenant, after_seq, limit)

    monkeypatch.setattr(store, "events_after", counted)
    return calls


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batches_counted_from_memory_leave_the_same_state_as_reading_them_back(nodes, monkeypatch, seed: int):
    a, b = nodes
    calls = _read_back_calls(a, monkeypatch)
    for body, headers in _batches(seed):
        assert a.post("/v1/events", json=body, headers=headers).status_code == 200
    assert calls == []  # A never read its own batches back
    b.get("/readyz")
    b.get("/v1/users/u1/recommendations?k=3")  # B's sync reads everything back
    stored = a.app.state.store.count("default")
    assert _served(a).live.events_applied == _served(b).live.events_applied == stored
    assert _live_state(a) == _live_state(b)
    assert _served(a).ads.ledger.events_applied > 0 and np.count_nonzero(_served(a).live.live) > 0


def test_another_writers_events_in_between_are_read_back_in_seq_order(nodes, monkeypatch):
    a, b = nodes
    calls = _read_back_calls(a, monkeypatch)
    for i, (body, headers) in enumerate(_batches(7, n=30)):
        node = a if i % 3 else b  # B stores every third batch: A's next batch finds a gap before it
        assert node.post("/v1/events", json=body, headers=headers).status_code == 200
    assert calls  # A read B's batches (and its own batch after them) back
    for node in (a, b):
        node.get("/v1/users/u1/recommendations?k=3")
    assert _live_state(a) == _live_state(b)
    assert _served(a).feed.watermark == a.app.state.store.last_seq("default")
