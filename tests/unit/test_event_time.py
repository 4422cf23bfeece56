"""Event times: events dated in the future (past a skew) or absurdly long ago are refused by the service
and by dataset loading, and profile ages are measured from the time of the request, never from the
newest event. Regression tests for "one event dated 2199 decays every real event to nothing"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.artifacts import WEIGHT
from recsys.data import schema as S
from recsys.data.dataset import load_dataset, make_dataset, normalize_events
from recsys.data.validation import EARLIEST_EVENT, event_time_problems
from recsys.errors import DataValidationError
from recsys.features.profiles import ProfileParams, build_profiles, event_weights
from recsys.online.profiles import online_user
from recsys.service import Settings, create_app
from recsys.service.tenants import load_served

from ..conftest import tiny_frames
from .test_http_contract import CheckedClient

NOW = pd.Timestamp("2026-03-01T12:00:00Z")


def _iso(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the pure bound ---------------------------------------------------------------------------------------

def test_time_bounds_name_the_limit_and_the_first_offending_row():
    ts = pd.Series([NOW, NOW + pd.Timedelta(hours=1), NOW + pd.Timedelta(days=2), pd.Timestamp("1980-01-01",
                                                                                              tz="UTC")],
                   name=S.TIMESTAMP)
    late, early = event_time_problems(ts, "request body", now=NOW, earliest=EARLIEST_EVENT, row="event")
    assert "max_future_skew = 1 day" in late.message and "86400 s" in late.message
    assert late.example.startswith("event 2:") and "in 1 row" in late.message
    assert early.example.startswith("event 3:") and "1990-01-01" in early.message
    assert event_time_problems(ts[:2], "f", now=NOW) == []
    assert event_time_problems(ts[:3], "f", now=NOW, max_future_skew=pd.Timedelta(days=3)) == []


# --- dataset loading / build ------------------------------------------------------------------------------

def test_make_dataset_refuses_an_event_a_year_in_the_future():
    products, events = tiny_frames()
    events.loc[3, S.TIMESTAMP] = NOW + pd.Timedelta(days=365)
    with pytest.raises(DataValidationError) as err:
        make_dataset(products, events, now=NOW)
    (p,) = err.value.problems
    assert (p.file, p.column) == ("events.parquet", S.TIMESTAMP) and p.example.startswith("row 3:")
    assert make_dataset(products, events, now=NOW + pd.Timedelta(days=365)).events.shape[0] == len(events)


def test_old_order_only_timestamps_still_load():
    products, events = tiny_frames()
    events[S.TIMESTAMP] = pd.Timestamp("1970-01-01", tz="UTC") + pd.to_timedelta(np.arange(len(events)), unit="s")
    assert len(make_dataset(products, events, now=NOW).events) == len(events)


def test_load_dataset_refuses_future_events_against_its_wall_clock(tiny_dir: Path):
    ev = pd.read_parquet(tiny_dir / "events.parquet")
    ev.loc[5, S.TIMESTAMP] = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=365)
    ev.to_parquet(tiny_dir / "events.parquet", index=False)
    with pytest.raises(DataValidationError, match=r"events\.parquet\[timestamp\]") as err:
        load_dataset(tiny_dir)
    assert err.value.problems[0].example.startswith("row 5:")


def test_build_refuses_a_dataset_with_an_event_a_year_ahead_exit_2(tiny_dir: Path, tmp_path: Path):
    ev = pd.read_parquet(tiny_dir / "events.parquet")
    ev.loc[2, S.TIMESTAMP] = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=365)
    ev.to_parquet(tiny_dir / "events.parquet", index=False)
    idx = tmp_path / "idx"
    r = subprocess.run([sys.executable, "-m", "recsys.cli.main", "build", "--data", str(tiny_dir), "--index",
                        str(idx), "--encoder", "hashing-256", "--quiet"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    # (the CLI prints through rich, which reads "[timestamp]" as markup: look for the parts)
    assert "events.parquet" in r.stderr and "row 2: timestamp=" in r.stderr and "max_future_skew" in r.stderr
    assert not idx.exists()


# --- ages from the request time ---------------------------------------------------------------------------

def _events(days_before_now: list[float], products: list[str]) -> pd.DataFrame:
    return normalize_events(pd.DataFrame({
        S.USER_ID: "u", S.PRODUCT_ID: products, S.EVENT_TYPE: "purchase",
        S.TIMESTAMP: [NOW - pd.Timedelta(days=d) for d in days_before_now], S.RATING: None, S.TEXT: ""}))


def test_event_weights_age_from_the_injected_now_and_future_counts_as_new():
    params = ProfileParams(half_life_days=10.0)
    ev = _events([0.0, 10.0, -5.0], ["a", "b", "c"])  # now, one half-life ago, five days ahead
    w = event_weights(ev, NOW, params)
    assert w[0] == pytest.approx(w[2]) and w[1] == pytest.approx(w[0] / 2)  # never more than "brand new"


def test_profile_direction_does_not_depend_on_how_late_the_question_is():
    params = ProfileParams(half_life_days=7.0)
    ev = _events([0.0, 3.0, 30.0], ["a", "b", "c"])
    vecs = np.eye(3, dtype=np.float32)
    pos = np.arange(3)
    no_text = np.zeros(3, bool)
    at_now = build_profiles(ev, pos, vecs, vecs, no_text, NOW, params)
    # 20 years later: weights are ~2**-1000 of what they were, the profile must still exist and point the same way
    later = build_profiles(ev, pos, vecs, vecs, no_text, NOW + pd.Timedelta(days=7000), params)
    assert later.has_profile[0] and np.allclose(later.vectors, at_now.vectors, atol=1e-6)


@pytest.fixture()
def served(tiny_index: Path):
    class _NoStore:
        def received_since(self, tenant, since):
            return normalize_events(pd.DataFrame()).assign(seq=pd.Series(dtype="int64"))

        def last_seq(self, tenant):
            return 0

    return load_served(tiny_index, "t", _NoStore())


def test_online_ages_run_to_the_request_time_not_the_newest_event(served):
    art = served.art
    hist = art.user_history("u_coffee")
    newest = hist[S.TIMESTAMP].max()
    ahead = normalize_events(pd.DataFrame({  # within any skew of the request time below
        S.USER_ID: ["u_coffee"], S.PRODUCT_ID: ["r3"], S.EVENT_TYPE: ["view"],
        S.TIMESTAMP: [newest + pd.Timedelta(days=3000)], S.RATING: [None], S.TEXT: [""]}))
    params = ProfileParams(**art.config.profile.model_dump())
    now = newest + pd.Timedelta(days=3000)
    state = online_user("u_coffee", art, ahead, art.config, served.texts, now=now)
    assert state.history[WEIGHT].tolist() == pytest.approx(event_weights(state.history, now, params).tolist())
    assert state.history[WEIGHT].iloc[-1] == pytest.approx(params.type_weights["view"])  # age 0 at `now`
    # the same events asked about a year later: every weight halves alike (half-life 365 days)
    later = online_user("u_coffee", art, ahead, art.config, served.texts, now=now + pd.Timedelta(days=365))
    ratio = later.history[WEIGHT].to_numpy() / state.history[WEIGHT].to_numpy()
    assert np.allclose(ratio, 0.5 ** (365 / params.half_life_days))
    assert np.allclose(later.vector, state.vector, atol=1e-5)


# --- the HTTP service -------------------------------------------------------------------------------------

@pytest.fixture()
def client(tiny_index: Path, tmp_path: Path):
    with CheckedClient(create_app(Settings(index=tiny_index, events_db=tmp_path / "ev.db"))) as c:
        yield c


def _event(ts: pd.Timestamp, product: str = "b2") -> dict:
    return {"user_id": "u_coffee", "product_id": product, "event_type": "purchase", "timestamp": _iso(ts)}


def test_future_event_is_refused_naming_the_skew_and_nothing_is_stored(client):
    before = client.get("/v1/users/u_coffee/profile").json()
    now = pd.Timestamp.now(tz="UTC")
    r = client.post("/v1/events", json={"events": [_event(now, "c3"), _event(now + pd.Timedelta(days=2))]})
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "DataValidationError"
    assert "max_future_skew = 1 day" in body["detail"] and "event 1:" in body["detail"]
    assert "RECSYS_MAX_FUTURE_SKEW" in body["detail"]
    assert client.app.state.store.count("default") == 0
    after = client.get("/v1/users/u_coffee/profile").json()
    assert after == before


def test_the_hostile_2199_event_is_refused_and_the_top_interest_keeps_its_share(client):
    before = client.get("/v1/users/u_coffee/profile").json()["interests"]
    r = client.post("/v1/events", json={"events": [_event(pd.Timestamp("2199-01-01", tz="UTC"), "r3")]})
    assert r.status_code == 422 and "event 0:" in r.json()["detail"]
    assert client.get("/v1/users/u_coffee/profile").json()["interests"] == before


def test_event_within_the_skew_is_accepted_and_does_not_erase_the_portrait(client):
    before = client.get("/v1/users/u_coffee/profile").json()["interests"]
    top = before[0]
    r = client.post("/v1/events", json={"events": [_event(pd.Timestamp.now(tz="UTC") + pd.Timedelta(hours=1),
                                                          "c3")]})
    assert r.status_code == 200 and r.json()["accepted"] == 1
    after = client.get("/v1/users/u_coffee/profile").json()["interests"]
    # c3 (a coffee mug) joins the coffee interest; nothing the user liked before decays to nothing
    coffee = next(i for i in after if i["label"] == top["label"] or i["n_items"] > top["n_items"])
    assert coffee["share"] >= top["share"] - 1e-6 and all(i["share"] > 0 for i in after)


def test_an_event_before_1990_is_refused(client):
    r = client.post("/v1/events", json={"events": [_event(pd.Timestamp("1985-06-01", tz="UTC"))]})
    assert r.status_code == 422 and "1990-01-01" in r.json()["detail"]
    assert client.app.state.store.count("default") == 0


def test_the_skew_is_a_setting(tiny_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RECSYS_MAX_FUTURE_SKEW", "60")
    settings = Settings(index=tiny_index, events_db=tmp_path / "ev.db")
    assert settings.max_future_skew.total_seconds() == 60
    with CheckedClient(create_app(settings)) as c:
        r = c.post("/v1/events", json={"events": [_event(pd.Timestamp.now(tz="UTC") + pd.Timedelta(hours=1))]})
        assert r.status_code == 422 and "max_future_skew = 1 minute (60 s)" in r.json()["detail"]
