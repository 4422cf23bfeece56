"""Shared state across processes: two `create_app` instances are two nodes sharing one SQLite events file and
one index folder. Events reach every node's counters and ad ledger through the store (counted once, however
often they are posted or synced), and a reload on one node reaches the other through its `current` pointer."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from recsys.build.pipeline import BuildOptions, build_index
from recsys.data import schema as S
from recsys.data.dataset import make_dataset, normalize_events
from recsys.encoders import make_encoder
from recsys.features.live import LiveSignals
from recsys.index import point_current, resolve_version
from recsys.service import Settings, create_app
from recsys.service.feed import EventFeed
from recsys.service.tenants import Tenant
from recsys.store import CAMPAIGN_ID, EVENT_ID, SQLiteEventStore

from ..conftest import tiny_frames

TS = "2024-03-01T00:00:00Z"
NOW = pd.Timestamp(TS)
#: Rank by popularity alone, so a burst of purchases decides the first result.
POPULAR = "weights=" + json.dumps({"popularity": 1.0})


def _build(root: Path, extra_product: str | None = None) -> str:
    products, events = tiny_frames()
    if extra_product:
        products = pd.concat([products, pd.DataFrame({"product_id": [extra_product], "title": ["trail running vest"],
                                                      "description": "", "category": "Sports > Running",
                                                      "brand": "", "price": [60.0]})], ignore_index=True)
    return build_index(make_dataset(products, events, "t"), root, make_encoder("hashing-256"),
                       BuildOptions(progress=False)).path.name


@pytest.fixture()
def shared(tmp_path: Path) -> Path:
    """One index folder (the root with `current`) that both nodes serve."""
    root = tmp_path / "index"
    _build(root)
    return root


def _node(root: Path, tmp: Path, stack: ExitStack, **settings) -> TestClient:
    defaults = dict(sync_interval=0.0, reload_poll_interval=0.0)
    app = create_app(Settings(index=root, events_db=tmp / "ev.db", **{**defaults, **settings}))
    return stack.enter_context(TestClient(app))


@pytest.fixture()
def nodes(shared: Path, tmp_path: Path) -> Iterator[tuple[TestClient, TestClient]]:
    with ExitStack() as stack:
        yield _node(shared, tmp_path, stack), _node(shared, tmp_path, stack)


def _served(node: TestClient):
    return node.app.state.tenants["default"].served


def _top(node: TestClient, user: str = "u_run") -> str:
    return node.get(f"/v1/users/{user}/recommendations?k=9&{POPULAR}").json()["results"][0]["product_id"]


def _purchases(product: str, n: int, **extra) -> dict:
    return {"events": [{"user_id": f"fan{i}", "product_id": product, "event_type": "purchase", "timestamp": TS,
                        **extra} for i in range(n)]}


# --- the store: tailing past a watermark --------------------------------------------------------------------

def _events(n: int, campaign: str | None = None) -> pd.DataFrame:
    ev = normalize_events(pd.DataFrame({
        S.USER_ID: [f"u{i}" for i in range(n)], S.PRODUCT_ID: ["c1"] * n, S.EVENT_TYPE: ["click"] * n,
        S.TIMESTAMP: [NOW] * n, S.RATING: [None] * n, S.TEXT: [""] * n}))
    ev[CAMPAIGN_ID] = pd.Series([campaign] * n, dtype=object)
    return ev


def test_events_after_pages_one_tenants_events_in_seq_order(tmp_path: Path):
    store = SQLiteEventStore(tmp_path / "ev.db")
    store.append("a", _events(3))
    store.append("b", _events(2))
    store.append("a", _events(2, campaign="mugs"))
    assert store.last_seq("a") == 7 and store.last_seq("b") == 5 and store.last_seq("nobody") == 0
    first = store.events_after("a", 0, 2)
    assert first["seq"].tolist() == [1, 2] and list(first.columns[-1:]) == [CAMPAIGN_ID]
    rest = store.events_after("a", 2, 10)
    assert rest["seq"].tolist() == [3, 6, 7]  # b's events are never visible through a's calls
    assert rest[CAMPAIGN_ID].tolist() == [None, "mugs", "mugs"] and EVENT_ID in rest.columns
    assert store.events_after("a", 7, 10).empty
    assert len(store.ad_events("a")) == 2 and len(store.ad_events("a", through_seq=6)) == 1
    store.close()


def test_a_sync_reads_bounded_batches_until_caught_up_and_never_reads_twice(tiny_index: Path, tmp_path: Path):
    from recsys.artifacts import load_artifacts

    art = load_artifacts(tiny_index)
    store = SQLiteEventStore(tmp_path / "ev.db")
    store.append("t", _events(5))
    feed = EventFeed("t", LiveSignals(art.features.signals, art.items, art.features.tiebreak), 0, batch=2)
    assert feed.sync(store) == 5 and feed.watermark == 5 and feed.live.events_applied == 5
    assert feed.sync(store) == 0 and feed.live.events_applied == 5
    store.append("t", _events(1))
    assert feed.sync(store, wait=True, through=6) == 1 and feed.watermark == 6
    store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def events_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The events database two stores (two nodes) open: a SQLite file, or a fresh PostgreSQL schema (skipped
    without RECSYS_TEST_POSTGRES_DSN, see pg.py)."""
    if request.param == "sqlite":
        yield str(tmp_path / "ev.db")
    else:
        from .pg import fresh_schema

        with fresh_schema() as dsn:
            yield dsn


def test_a_feed_tailing_concurrent_appends_of_two_nodes_misses_nothing(events_db: str, tiny_index: Path):
    """The watermark may only pass a seq once no lower one can still commit: two nodes append at once while
    a third process's feed syncs, and when they are done its counters hold every stored event once."""
    import threading

    from recsys.artifacts import load_artifacts
    from recsys.store import open_event_store

    art = load_artifacts(tiny_index)
    writers, reader = [open_event_store(events_db) for _ in range(2)], open_event_store(events_db)
    feed = EventFeed("t", LiveSignals(art.features.signals, art.items, art.features.tiebreak), 0, batch=7)
    done = threading.Event()

    def write(store) -> None:
        for _ in range(40):
            store.append("t", _events(3))

    threads = [threading.Thread(target=write, args=(w,)) for w in writers for _ in range(2)]
    for t in threads:
        t.start()
    syncer = threading.Thread(target=lambda: [feed.sync(reader) for _ in iter(done.is_set, True)])
    syncer.start()
    for t in threads:
        t.join()
    done.set()
    syncer.join()
    feed.sync(reader)
    assert reader.count("t") == 480 and feed.live.events_applied == 480
    assert feed.watermark == reader.last_seq("t")
    for store in (*writers, reader):
        store.close()


# --- two nodes, one store -------------------------------------------------------------------------------------

def test_an_event_posted_on_one_node_changes_the_next_answer_of_the_other(nodes):
    a, b = nodes
    assert _top(b) != "b2"
    assert a.post("/v1/events", json=_purchases("b2", 6)).json()["accepted"] == 6
    assert _top(b) == "b2"  # B never received the events: its counters came from the store
    assert _top(a) == "b2"
    for _ in range(3):  # more syncs of both nodes find nothing new
        _top(a), _top(b)
    assert _served(a).live.events_applied == _served(b).live.events_applied == 6
    assert _served(a).feed.watermark == _served(b).feed.watermark == 6


def test_a_retried_batch_and_repeated_syncs_count_once_on_every_node(shared: Path, tmp_path: Path):
    camps = tmp_path / "campaigns.parquet"
    pd.DataFrame([dict(campaign_id="mugs", advertiser="cafe", landing_product_ids=["c3"], keywords=["espresso"],
                       bid_type="cpc", bid=1.0, total_budget=10.0, seed_user_ids=[])]).to_parquet(camps)
    click = {"events": [{"user_id": "a1", "product_id": "c3", "event_type": "click", "timestamp": TS,
                         "campaign_id": "mugs", "event_id": "click-1"}]}
    with ExitStack() as stack:
        a, b = (_node(shared, tmp_path, stack, campaigns=camps) for _ in range(2))
        for headers in ({}, {}, {"Idempotency-Key": "k"}, {"Idempotency-Key": "k"}):
            assert a.post("/v1/events", json=click, headers=headers).status_code == 200
        batch = _purchases("b2", 3, event_id=None)
        for _ in range(2):  # the same batch, retried with its key
            assert a.post("/v1/events", json=batch, headers={"Idempotency-Key": "p"}).status_code == 200
        for _ in range(3):
            _top(b)
        for node in (a, b):
            served = _served(node)
            assert served.ads.ledger.spend("mugs", NOW).total == pytest.approx(1.0)
            assert served.live.events_applied == 4 and node.app.state.store.count("default") == 4


def test_events_are_not_counted_twice_across_a_reload(shared: Path, tmp_path: Path):
    with ExitStack() as stack:
        a = _node(shared, tmp_path, stack)
        v2 = _build(shared, extra_product="r4")  # built now: the events below come after it
        assert a.post("/v1/events", json=_purchases("b2", 4)).status_code == 200
        assert a.post("/v1/admin/reload").json()["version"] == v2
        new = _served(a)
        assert new.version == v2 and new.live.events_applied == 4 and new.feed.watermark == 4
        assert a.post("/v1/events", json=_purchases("b1", 2)).status_code == 200
        _top(a)
        assert new.live.events_applied == 6


def test_a_campaigns_reload_continues_the_ledger_exactly(shared: Path, tmp_path: Path):
    camps = tmp_path / "campaigns.parquet"
    pd.DataFrame([dict(campaign_id="mugs", advertiser="cafe", landing_product_ids=["c3"], keywords=["espresso"],
                       bid_type="cpc", bid=1.0, total_budget=10.0, seed_user_ids=[])]).to_parquet(camps)

    def click(n: int) -> dict:
        return {"events": [{"user_id": f"a{n}", "product_id": "c3", "event_type": "click", "timestamp": TS,
                            "campaign_id": "mugs"}]}

    with ExitStack() as stack:
        a, b = (_node(shared, tmp_path, stack, campaigns=camps) for _ in range(2))
        assert a.post("/v1/events", json=click(1)).status_code == 200
        assert b.post("/v1/admin/reload").json()["changed"] is False  # same index: campaigns re-read only
        assert a.post("/v1/events", json=click(2)).status_code == 200
        _top(b)
        assert _served(b).ads.ledger.spend("mugs", NOW).total == pytest.approx(2.0)
        assert _served(b).live is _served(b).feed.live


# --- reloads reach every node ------------------------------------------------------------------------------------

def _wait_for(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("not reached before the deadline")
        time.sleep(0.05)


def test_a_reload_on_one_node_reaches_the_other_within_its_poll_interval(shared: Path, tmp_path: Path):
    with ExitStack() as stack:
        a = _node(shared, tmp_path, stack)
        b = _node(shared, tmp_path, stack, reload_poll_interval=0.1)
        v1 = _served(b).version
        v2 = _build(shared, extra_product="r4")
        r = a.post("/v1/admin/reload").json()
        assert r["changed"] is True and r["version"] == v2 and r["previous_version"] == v1
        _wait_for(lambda: b.get("/v1/users/u_run/recommendations").json()["index_version"] == v2)
        assert b.get("/v1/items/r4/similar?k=2").status_code == 200
        assert f'recsys_index_info{{tenant="default",version="{v2}"}} 1.0' in b.get("/metrics").text


def test_a_refused_version_is_retried_only_when_the_pointer_moves_again(shared: Path, tmp_path: Path):
    with ExitStack() as stack:
        b = _node(shared, tmp_path, stack, reload_poll_interval=0.05)
        tenant: Tenant = b.app.state.tenants["default"]
        v1 = _served(b).version
        bad = shared / "broken-version"
        shutil.copytree(resolve_version(shared), bad)
        (bad / "index.faiss").write_bytes(b"not a faiss index")
        point_current(shared, bad.name)
        refused = b.app.state.metrics.reloads.labels("default", "refused")
        _wait_for(lambda: refused._value.get() == 1)
        time.sleep(0.3)  # several more polls: the same broken version is not loaded again
        assert refused._value.get() == 1 and _served(b).version == v1
        v2 = _build(tmp_path / "elsewhere", extra_product="r4")  # a build refuses a broken `current`
        shutil.copytree(tmp_path / "elsewhere" / v2, shared / v2)
        point_current(shared, v2)
        _wait_for(lambda: tenant.served.version == v2)
        assert refused._value.get() == 1


def test_settings_survive_the_environment_that_serve_hands_its_workers(monkeypatch, tmp_path: Path):
    settings = Settings(index=tmp_path, events_db=tmp_path / "ev.db", log_answers=False, sync_interval=0.25,
                        max_future_skew=pd.Timedelta(seconds=90).to_pytimedelta(), metrics_key="m" * 16)
    for name, value in settings.environ().items():
        monkeypatch.setenv(name, value)
    assert Settings() == settings  # type: ignore[call-arg]
