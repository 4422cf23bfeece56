"""Nothing in loading, splitting or evaluating may depend on product ids: ties in event order and in scores.

Same-timestamp events keep their source order (never id order; a file whose ties are in id order gets a
seeded random order instead); score ties follow a seeded random
permutation of the catalogue; relabelling every product id leaves the metrics unchanged; leave-one-out
reports carry the "target id sorts below the previous item's" slice.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.cli.evaluate import resolve_split
from recsys.data import schema as S
from recsys.data.dataset import load_dataset, make_dataset, order_events, ties_in_id_order
from recsys.data.splits import (
    ascending_id_share,
    previous_items,
    split_events,
    timestamps_order_only,
    train_valid_events,
)
from recsys.errors import ConfigError
from recsys.evaluation import EASEScorer, EvalConfig, ItemKNNScorer, PopularityScorer, evaluate_methods, write_report
from recsys.evaluation.baselines import keep_top_per_row
from recsys.evaluation.report import tie_line
from recsys.evaluation.runner import ABOVE_PREVIOUS, BELOW_PREVIOUS, order_slices

D0 = pd.Timestamp("2024-01-01", tz="UTC")


def catalogue(n_items: int) -> pd.DataFrame:
    return pd.DataFrame({S.PRODUCT_ID: [f"p{i:03d}" for i in range(n_items)],
                         S.TITLE: [f"thing {i}" for i in range(n_items)]})


def day_level_log(n_users: int = 60, n_items: int = 40, per_user: int = 7, seed: int = 0) -> pd.DataFrame:
    """Two taste blocks; each user's events fall on 3 days (several per day) in a random, non-id order."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        block = np.arange(n_items // 2) + (0 if u % 2 else n_items // 2)
        items = rng.choice(block, size=per_user, replace=False)  # random order: not sorted by id
        for pos, item in enumerate(items):
            rows.append((f"u{u:03d}", f"p{item:03d}", "purchase", D0 + pd.Timedelta(days=pos * 3 // per_user)))
    return pd.DataFrame(rows, columns=[S.USER_ID, S.PRODUCT_ID, S.EVENT_TYPE, S.TIMESTAMP])


def salted(pid: str, salt: str = "pepper") -> str:
    return "x" + hashlib.sha256(f"{salt}:{pid}".encode()).hexdigest()[:10]


def relabel(products: pd.DataFrame, events: pd.DataFrame, resort_catalogue: bool = False):
    new_products = products.assign(**{S.PRODUCT_ID: products[S.PRODUCT_ID].map(salted)})
    if resort_catalogue:  # as a fresh export sorted by the new ids would be
        new_products = new_products.sort_values(S.PRODUCT_ID).reset_index(drop=True)
    return new_products, events.assign(**{S.PRODUCT_ID: events[S.PRODUCT_ID].map(salted)})


def sequences(events: pd.DataFrame) -> dict[str, list[str]]:
    return {u: g[S.PRODUCT_ID].tolist() for u, g in events.groupby(S.USER_ID, sort=True)}


# --- event order -------------------------------------------------------------------------------------------

def test_same_time_events_keep_source_order_whatever_the_ids(tmp_path):
    products, log = catalogue(40), day_level_log()
    ds = make_dataset(products, log)
    assert sequences(ds.events) == sequences(log)  # the input's row order, not id order
    # relabel every id at random: each history is the same sequence under the new names
    new_products, new_log = relabel(products, log)
    relabelled = sequences(make_dataset(new_products, new_log).events)
    assert relabelled == {u: [salted(p) for p in seq] for u, seq in sequences(log).items()}
    # the same through parquet files: the file's row order is the source order
    folder = tmp_path / "d"
    folder.mkdir()
    new_products.to_parquet(folder / S.PRODUCTS_FILE, index=False)
    new_log.to_parquet(folder / S.EVENTS_FILE, index=False)
    assert sequences(load_dataset(folder).events) == relabelled
    # the data really has same-day ties whose id order differs from the source order
    assert ascending_id_share(ds.events) < 0.6


def test_users_and_times_still_sort_and_source_order_breaks_only_exact_ties():
    log = pd.DataFrame({
        S.USER_ID: ["b", "a", "a", "a"],
        S.PRODUCT_ID: ["p1", "p9", "p2", "p5"],
        S.EVENT_TYPE: ["view"] * 4,
        S.TIMESTAMP: [D0, D0 + pd.Timedelta(hours=1), D0, D0],
    })
    ds = make_dataset(catalogue(10).assign(**{S.PRODUCT_ID: [f"p{i}" for i in range(10)]}), log)
    assert ds.events[[S.USER_ID, S.PRODUCT_ID]].values.tolist() == [["a", "p2"], ["a", "p5"], ["a", "p9"], ["b", "p1"]]


def test_random_same_time_order_is_seeded_row_order_free_and_not_id_order():
    products = catalogue(400)
    log = pd.DataFrame({S.USER_ID: "u", S.PRODUCT_ID: products[S.PRODUCT_ID], S.EVENT_TYPE: "view", S.TIMESTAMP: D0})
    a = make_dataset(products, log, same_time_order="random", seed=3).events
    shuffled = log.sample(frac=1.0, random_state=1)
    b = make_dataset(products, shuffled, same_time_order="random", seed=3).events
    assert a[S.PRODUCT_ID].tolist() == b[S.PRODUCT_ID].tolist()  # reproducible, whatever the row order
    c = make_dataset(products, log, same_time_order="random", seed=4).events
    assert a[S.PRODUCT_ID].tolist() != c[S.PRODUCT_ID].tolist()  # the seed matters
    assert 0.4 < ascending_id_share(a) < 0.6  # an id-sorted file comes out in no id order
    with pytest.raises(ConfigError, match="same_time_order"):
        order_events(log, "by-id")  # type: ignore[arg-type]


def test_auto_keeps_source_order_unless_the_file_sorted_ties_by_id():
    products = catalogue(40)
    behavioural = day_level_log()
    ds = make_dataset(products, behavioural)  # default: auto
    assert ds.same_time_order == "source" and sequences(ds.events) == sequences(behavioural)
    # the same events written by an earlier (user, time, product) sort: the file order is id order
    id_sorted = behavioural.sort_values([S.USER_ID, S.TIMESTAMP, S.PRODUCT_ID]).reset_index(drop=True)
    assert ties_in_id_order(id_sorted) and not ties_in_id_order(behavioural)
    auto = make_dataset(products, id_sorted)
    assert auto.same_time_order == "random"
    assert auto.events.equals(make_dataset(products, id_sorted, same_time_order="random").events)
    assert 0.35 < ascending_id_share(auto.events) < 0.65
    assert make_dataset(products, id_sorted, same_time_order="source").same_time_order == "source"
    # a handful of tied pairs cannot show that a file was sorted by id
    few = id_sorted[id_sorted[S.USER_ID].isin(["u000", "u001"])]
    assert make_dataset(products, few).same_time_order == "source"


# --- split helpers -----------------------------------------------------------------------------------------

def test_split_helpers_find_previous_items_order_only_time_and_id_ascent():
    log = day_level_log(n_users=6, per_user=5)
    split = split_events(make_dataset(catalogue(40), log).events, "leave-one-out")
    history = train_valid_events(split)
    prev = previous_items(history, np.array(list(split.test_users) + ["nobody"], dtype=object))
    expected = [seq[-2] for _, seq in sorted(sequences(log).items())]
    assert prev.tolist() == expected + [None]
    assert split.report["order"]["timestamps_order_only"] is False
    positions = log.assign(**{S.TIMESTAMP: pd.Timestamp("1970-01-01", tz="UTC")
                              + pd.to_timedelta(log.groupby(S.USER_ID).cumcount(), unit="s")})
    assert timestamps_order_only(positions) and not timestamps_order_only(log)
    ids = pd.DataFrame({S.USER_ID: ["a"] * 4 + ["b"] * 2, S.PRODUCT_ID: ["p1", "p2", "p2", "p0", "p3", "p4"]})
    assert ascending_id_share(ids) == pytest.approx(2 / 3)  # a: up, (same: skipped), down; b: up
    assert resolve_split("auto", positions) == "leave-one-out"
    assert resolve_split("auto", log) == "last-day" and resolve_split("global-time", positions) == "global-time"


# --- score ties --------------------------------------------------------------------------------------------

def test_itemknn_neighbour_ties_follow_the_tie_order_not_the_column():
    sim = sp.csr_matrix(np.array([[0, 1, 1, 1, 1]], dtype=np.float32))  # four equal neighbours, keep two
    tie = np.array([0, 4, 3, 1, 2])  # columns 3 and 4 come first in the tie order
    assert sorted(keep_top_per_row(sim, 2, tie).indices.tolist()) == [3, 4]
    assert sorted(keep_top_per_row(sim, 2).indices.tolist()) == [1, 2]  # without one: column order


def test_every_report_states_the_tie_handling(tmp_path):
    products, log = catalogue(40), day_level_log()
    report = evaluate_methods(products, make_dataset(products, log).events, {"pop": PopularityScorer()},
                              EvalConfig(scheme="leave-one-out", n_boot=20, seed=5))
    tie = report["config"]["tie_break"]
    assert tie["method"] == "seeded random permutation of the catalogue" and tie["seed"] == 5
    assert tie["by_product_id_or_position"] is False
    report["dataset"].update(same_time_order="source", same_time_order_requested="auto")
    paths = write_report(report, tmp_path / "out")
    md = paths["md"].read_text()
    assert "Score ties: broken by a seeded random permutation of the catalogue (seed 5)" in md
    assert "keep the source file's row order" in md
    assert json.loads(paths["json"].read_text())["config"]["tie_break"]["seed"] == 5
    assert "Score ties" in paths["html"].read_text()
    report["dataset"]["same_time_order"] = "random"
    assert "seeded random order because the file's own order of them is product-id order" in tie_line(report)


# --- metrics do not depend on ids --------------------------------------------------------------------------

METHODS = {"popularity": PopularityScorer, "itemknn": lambda: ItemKNNScorer(neighbours=(5, None)),
           "ease": lambda: EASEScorer(lambdas=(10.0, 100.0))}
KEYS = ("recall@10", "ndcg@10", "recall@20", "mrr", "coverage@10")


def run(products: pd.DataFrame, log: pd.DataFrame, scheme: str = "leave-one-out") -> dict:
    events = make_dataset(products, log).events
    scorers = {name: make() for name, make in METHODS.items()}
    return evaluate_methods(products, events, scorers, EvalConfig(scheme=scheme, n_boot=100, seed=0))["methods"]


@pytest.mark.parametrize("scheme", ["leave-one-out", "last-day"])
def test_relabelled_product_ids_give_identical_metrics(scheme):
    products, log = catalogue(40), day_level_log()
    base = run(products, log, scheme)
    relabelled = run(*relabel(products, log), scheme)
    for name in METHODS:
        for key in KEYS:
            assert relabelled[name][key] == pytest.approx(base[name][key], abs=1e-12), (name, key)


def test_relabelled_and_resorted_catalogue_gives_the_same_metrics_within_noise():
    """Re-sorting the catalogue by the new ids reassigns the random tie order: only tie noise may move."""
    products, log = catalogue(40), day_level_log()
    base = run(products, log)
    moved = run(*relabel(products, log, resort_catalogue=True))
    for name in METHODS:
        lo, hi = base[name]["recall@10_ci95"]
        assert abs(moved[name]["recall@10"] - base[name]["recall@10"]) <= (hi - lo) / 2, name
        lo, hi = base[name]["ndcg@10_ci95"]
        assert abs(moved[name]["ndcg@10"] - base[name]["ndcg@10"]) <= (hi - lo) / 2, name


# --- the order-artifact-free slice -------------------------------------------------------------------------

def test_leave_one_out_reports_the_target_id_below_previous_slice(tmp_path):
    products, log = catalogue(40), day_level_log()
    events = make_dataset(products, log).events
    split = split_events(events, "leave-one-out")
    seqs = sequences(log)
    below_users = sorted(u for u, s in seqs.items() if s[-1] < s[-2])
    above_users = sorted(u for u, s in seqs.items() if s[-1] > s[-2])
    slices = order_slices(split, train_valid_events(split))
    assert split.test_users[slices[BELOW_PREVIOUS].mask].tolist() == below_users
    assert split.test_users[slices[ABOVE_PREVIOUS].mask].tolist() == above_users

    report = evaluate_methods(products, events, {"pop": PopularityScorer(), "ease": EASEScorer(lambdas=(50.0,))},
                              EvalConfig(scheme="leave-one-out", n_boot=50))
    for name in ("pop", "ease"):
        sl = report["methods"][name]["slices"][BELOW_PREVIOUS]
        assert sl["users"] == len(below_users) > 0
        assert {"recall@10", "ndcg@10", "recall@10_ci95", "ndcg@10_ci95", "definition"} <= set(sl)
        lo, hi = sl["recall@10_ci95"]
        assert lo <= sl["recall@10"] <= hi
        assert report["methods"][name]["slices"][ABOVE_PREVIOUS]["users"] == len(above_users)
    md = write_report(report, tmp_path / "out")["md"].read_text()
    assert "## Target id below the previous item's" in md and "| ease |" in md.split("## Target id below")[1]
    assert "consecutive interaction pairs ascend in product id" in md


def test_other_splits_have_no_order_slice():
    products, log = catalogue(40), day_level_log()
    report = evaluate_methods(products, make_dataset(products, log).events, {"pop": PopularityScorer()},
                              EvalConfig(scheme="last-day", n_boot=20))
    assert BELOW_PREVIOUS not in report["methods"]["pop"]["slices"]
