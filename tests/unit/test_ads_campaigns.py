"""Campaign files: the column contract, typed errors that name campaign and field, ad copy from products."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from recsys.campaigns import load_campaigns, make_copy, parse_campaigns
from recsys.campaigns.copy import HEADLINE_CHARS, LandingProduct
from recsys.errors import DataValidationError


def _frame(**over) -> pd.DataFrame:
    row = dict(campaign_id="c1", bid_type="cpc", bid=1.0, landing_product_ids=["p1"])
    row.update(over)
    return pd.DataFrame([row])


def test_minimal_campaign_gets_open_window_unlimited_budget_and_active_status():
    (c,) = parse_campaigns(_frame())
    assert (c.status, c.daily_budget, c.total_budget, c.start, c.end) == ("active", None, None, None, None)
    assert c.landing_product_ids == ("p1",) and not c.is_lookalike
    assert c.advertiser_key == "campaign:c1"


def test_every_problem_is_reported_with_campaign_and_field():
    bad = pd.DataFrame([
        dict(campaign_id="a", bid_type="cpx", bid=-1.0, landing_product_ids=["p"]),
        dict(campaign_id="b", bid_type="cpm", bid=2.0, start="2026-02-01", end="2026-01-01", headline="x"),
        dict(campaign_id="c", bid_type="cpc", bid=1.0),
        dict(campaign_id="a", bid_type="cpc", bid=1.0, headline="dup", status="stopped"),
    ])
    with pytest.raises(DataValidationError) as exc:
        parse_campaigns(bad, "camps.parquet")
    text = str(exc.value)
    for needle in ("campaign 'a': bid_type", "campaign 'a': bid must", "campaign 'b': end",
                   "campaign 'c': give landing_product_ids", "status must be", "ids must be unique"):
        assert needle in text, needle
    assert {p.column for p in exc.value.problems} >= {"bid_type", "bid", "end", "landing_product_ids", "status"}


def test_unknown_columns_and_epoch_times_are_refused():
    with pytest.raises(DataValidationError, match="unknown column"):
        parse_campaigns(_frame(budget=3))
    with pytest.raises(DataValidationError, match="not an epoch number"):
        parse_campaigns(_frame(start=1_700_000_000))


def test_json_lines_round_trip_and_bad_lines(tmp_path: Path):
    good = tmp_path / "c.jsonl"
    good.write_text(json.dumps(dict(campaign_id="x", bid_type="CPM", bid=3, seed_user_ids=["u1", "u2", "u1"],
                                    start="2026-01-01T00:00:00Z", daily_budget=10)) + "\n\n")
    (c,) = load_campaigns(good)
    assert c.bid_type == "cpm" and c.seed_user_ids == ("u1", "u2") and c.is_lookalike
    assert c.start == pd.Timestamp("2026-01-01", tz="UTC") and c.daily_budget == 10.0
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json}\n")
    with pytest.raises(DataValidationError, match="line 1 is not JSON"):
        load_campaigns(bad)
    with pytest.raises(DataValidationError, match="not found"):
        load_campaigns(tmp_path / "missing.parquet")


def test_live_window_is_half_open():
    (c,) = parse_campaigns(_frame(start="2026-01-01", end="2026-01-02"))
    assert c.live_at(pd.Timestamp("2026-01-01", tz="UTC"))
    assert not c.live_at(pd.Timestamp("2026-01-02", tz="UTC"))


def test_copy_is_extracted_from_landing_products_when_missing():
    landing = [LandingProduct("Ultra-light trail running shoes with a very long marketing title that goes on",
                              "Grippy soles for wet rock. Breathable mesh upper. Ships in two days.", "Trailco",
                              price=89.5), LandingProduct("Socks")]
    copy = make_copy("", "", landing)
    assert copy.generated and copy.headline.endswith("+ 1 more") and len(copy.headline) <= HEADLINE_CHARS
    assert copy.body.startswith("Grippy soles for wet rock.") and "By Trailco." in copy.body
    assert "From $89.50." in copy.body
    own = make_copy("Our headline", "Our body", landing)
    assert (own.headline, own.body, own.generated) == ("Our headline", "Our body", False)
