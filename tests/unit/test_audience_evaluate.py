"""Offline audience evaluation on a tiny two-taste dataset whose answer is known."""

from __future__ import annotations

import pandas as pd
import pytest

from recsys.audience.evaluate import AudienceEvalConfig, evaluate_audiences, score_audience
from recsys.encoders import make_encoder
from tests.conftest import tiny_frames


def _events() -> pd.DataFrame:
    day = lambda d: pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=d)  # noqa: E731
    rows = []
    for i in range(6):  # six coffee drinkers, one train review each
        rows.append((f"cu{i}", "c1", "review", day(1 + i), 5.0, "great espresso coffee"))
    for i in range(6):  # six runners, more active (popularity targeting picks them)
        rows.append((f"ru{i}", "r1", "review", day(1 + i), 5.0, "good running shoes"))
        rows.append((f"ru{i}", "r2", "purchase", day(2 + i), None, ""))
    for i in range(3):  # after the cutoff three coffee drinkers buy the espresso mug
        rows.append((f"cu{i}", "c3", "purchase", day(30), None, ""))
    rows.append(("ru0", "r3", "purchase", day(30), None, ""))  # one buyer only: not a campaign
    return pd.DataFrame(rows, columns=["user_id", "product_id", "event_type", "timestamp", "rating", "text"])


def test_score_audience_counts_hits() -> None:
    assert score_audience(pd.Series(["a", "b", "c"]).to_numpy(), {"b", "z"}, 2) == (1, 0.5, 0.5)


def test_audiences_find_the_coffee_buyers_and_beat_both_baselines(tmp_path) -> None:
    products, _ = tiny_frames()
    cfg = AudienceEvalConfig(cutoff=pd.Timestamp("2024-01-20", tz="UTC"), min_users=3, sizes=(6,))
    report = evaluate_audiences(products, _events(), make_encoder("hashing-256"), cfg, workdir=tmp_path)
    assert report["n_campaigns"] == 1
    (camp,) = report["campaigns"]
    assert camp["product_id"] == "c3" and camp["positives"] == 3 and camp["eligible_users"] == 12
    at6 = camp["@6"]
    # the six coffee drinkers rank above every runner: all three buyers are in the top six
    assert (at6["hits"], at6["precision"], at6["recall"]) == (3, 0.5, 1.0)
    assert at6["popularity_precision"] == 0.0  # the six most active users are the runners
    s = report["summary"]["@6"]
    assert s["random_precision"] == pytest.approx(0.25)
    assert s["lift_over_random"] == pytest.approx(2.0)
    assert s["lift_over_popularity"] is None  # popularity hit nothing: lift undefined, not infinite
