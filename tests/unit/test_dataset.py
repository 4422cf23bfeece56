"""recsys.data.dataset: normalisation, loading a folder, one error for all problems, fingerprints."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.data import dataset, schema
from recsys.data.dataset import (
    Dataset,
    load_dataset,
    make_dataset,
    normalize_events,
    normalize_products,
    validate_dataset,
)
from recsys.errors import DataValidationError

REPO = Path(__file__).resolve().parents[2]
SAMPLE_DIRS = (REPO / "data" / "amazon2018_gift_cards", REPO.parent / "shared" / "data" / "amazon2018_gift_cards")
UTC_US = "datetime64[us, UTC]"


def sample_dir() -> Path:
    for path in SAMPLE_DIRS:
        if (path / schema.PRODUCTS_FILE).exists():
            return path
    pytest.skip("amazon2018_gift_cards sample not found")


def write(folder: Path, products: pd.DataFrame, events: pd.DataFrame | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    products.to_parquet(folder / schema.PRODUCTS_FILE, index=False)
    if events is not None:
        events.to_parquet(folder / schema.EVENTS_FILE, index=False)
    return folder


def raw_products() -> pd.DataFrame:
    return pd.DataFrame({schema.PRODUCT_ID: ["P1", "P2"], schema.TITLE: ["Mug", "Tea"]})


def raw_events() -> pd.DataFrame:
    return pd.DataFrame({
        schema.USER_ID: ["u2", "u1", "u1"],
        schema.PRODUCT_ID: ["P2", "P2", "P1"],
        schema.EVENT_TYPE: ["view", "view", "view"],
        schema.TIMESTAMP: ["2020-01-02T00:00:00Z", "2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z"],
    })


def test_normalize_products_fills_optional_columns() -> None:
    df = pd.DataFrame({schema.PRODUCT_ID: [1, 2], schema.BRAND: ["Acme", None], "colour": ["r", "g"]})
    out = normalize_products(df)
    assert list(out.columns) == list(schema.PRODUCT_COLUMNS)
    assert out[schema.PRODUCT_ID].tolist() == ["1", "2"]
    assert out[schema.BRAND].tolist() == ["Acme", ""] and out[schema.TITLE].tolist() == ["", ""]
    assert out[schema.PRICE].dtype == np.float64 and out[schema.PRICE].isna().all()
    assert list(df.columns) == [schema.PRODUCT_ID, schema.BRAND, "colour"]  # input untouched


def test_integral_float_ids_become_strings() -> None:
    out = normalize_events(raw_events().assign(user_id=[1.0, 2.0, np.nan]))
    assert out[schema.USER_ID].iloc[:2].tolist() == ["1", "2"] and pd.isna(out[schema.USER_ID].iloc[2])


def test_normalize_events_coerces_types() -> None:
    df = raw_events().assign(
        event_type=[" View", "CLICK ", "search"],
        timestamp=["2020-01-01T02:00:00+02:00", "2020-01-01", "2020-01-01 00:00:00"],
        rating=[5, None, 3],
    )
    out = normalize_events(df)
    assert list(out.columns) == list(schema.EVENT_COLUMNS)
    assert out[schema.EVENT_TYPE].tolist() == ["view", "click", "search"]
    assert str(out[schema.TIMESTAMP].dtype) == UTC_US
    assert (out[schema.TIMESTAMP] == pd.Timestamp("2020-01-01", tz="UTC")).all()
    assert out[schema.RATING].dtype == np.float64 and out[schema.TEXT].tolist() == ["", "", ""]


def test_naive_and_foreign_zone_datetimes_become_utc() -> None:
    naive = normalize_events(raw_events().assign(timestamp=pd.to_datetime(["2020-01-01 10:00"] * 3)))
    paris = normalize_events(raw_events().assign(
        timestamp=pd.to_datetime(["2020-01-01 11:00"] * 3).tz_localize("Europe/Paris")))
    assert str(naive[schema.TIMESTAMP].dtype) == str(paris[schema.TIMESTAMP].dtype) == UTC_US
    assert (naive[schema.TIMESTAMP] == paris[schema.TIMESTAMP]).all()


def test_unparseable_timestamps_are_kept_for_the_message() -> None:
    out = normalize_events(raw_events().assign(timestamp=["2020-01-01", "soon", "2020-01-02"]))
    assert out[schema.TIMESTAMP].tolist()[1] == "soon"
    with pytest.raises(DataValidationError) as err:
        validate_dataset(normalize_products(raw_products()), out)
    assert [p.column for p in err.value.problems] == [schema.TIMESTAMP]


def test_epoch_integers_are_rejected(tmp_path: Path) -> None:
    folder = write(tmp_path / "d", raw_products(), raw_events().assign(timestamp=[1577836800] * 3))
    with pytest.raises(DataValidationError) as err:
        load_dataset(folder)
    assert [p.column for p in err.value.problems] == [schema.TIMESTAMP]


def test_real_sample_loads_cleanly() -> None:
    data = load_dataset(sample_dir())
    assert len(data.products) == 1547 and len(data.events) == 2961
    assert list(data.products.columns) == list(schema.PRODUCT_COLUMNS)
    assert list(data.events.columns) == list(schema.EVENT_COLUMNS)
    assert str(data.events[schema.TIMESTAMP].dtype) == UTC_US
    assert data.fingerprint() == load_dataset(sample_dir()).fingerprint()


def test_load_sorts_events_and_drops_extra_columns(tmp_path: Path) -> None:
    folder = write(tmp_path / "d", raw_products().assign(extra=[1, 2]), raw_events().assign(session=[1, 2, 3]))
    data = load_dataset(folder)
    assert list(data.events.columns) == list(schema.EVENT_COLUMNS)
    assert list(data.products.columns) == list(schema.PRODUCT_COLUMNS)
    pairs = data.events[[schema.USER_ID, schema.PRODUCT_ID]].values.tolist()
    assert pairs == [["u1", "P2"], ["u1", "P1"], ["u2", "P2"]]  # u1's same-time events keep the file order
    assert data.events.index.tolist() == [0, 1, 2] and data.source == str(folder)


def test_catalogue_without_events_file_builds(tmp_path: Path) -> None:
    data = load_dataset(write(tmp_path / "d", raw_products()))
    assert len(data.events) == 0 and list(data.events.columns) == list(schema.EVENT_COLUMNS)
    assert str(data.events[schema.TIMESTAMP].dtype) == UTC_US


def test_empty_titles_and_ratings_only_events_load(tmp_path: Path) -> None:
    products = pd.DataFrame({schema.PRODUCT_ID: ["P1", "P2"], schema.TITLE: ["", None]})
    events = raw_events().assign(event_type="rating", rating=[5.0, 4.0, 1.0])
    data = load_dataset(write(tmp_path / "d", products, events))
    assert data.products[schema.TITLE].tolist() == ["", ""]
    assert data.events[schema.TEXT].tolist() == ["", "", ""]
    assert data.events[schema.RATING].tolist() == [4.0, 1.0, 5.0]  # sorted: u1/P2, u1/P1 (file order), u2/P2


def test_problems_in_both_files_raise_one_error(tmp_path: Path) -> None:
    products = pd.DataFrame({schema.PRODUCT_ID: ["P1", "P1"], schema.PRICE: ["cheap", "2.0"]})
    events = raw_events().assign(event_type=["view", "like", "view"], rating=[9.0, None, None])
    folder = write(tmp_path / "d", products, events)
    with pytest.raises(DataValidationError) as err:
        load_dataset(folder)
    files = {Path(p.file).name for p in err.value.problems}
    assert files == {schema.PRODUCTS_FILE, schema.EVENTS_FILE}
    by_file = sorted((Path(p.file).name, p.column) for p in err.value.problems)
    assert by_file == sorted([
        (schema.PRODUCTS_FILE, schema.PRODUCT_ID),  # duplicate
        (schema.PRODUCTS_FILE, schema.PRICE),
        (schema.EVENTS_FILE, schema.EVENT_TYPE),
        (schema.EVENTS_FILE, schema.PRODUCT_ID),  # not in the catalogue
        (schema.EVENTS_FILE, schema.RATING),
    ])
    assert "'like'" in str(err.value) and "'cheap'" in str(err.value)
    assert "P2" in str(err.value)  # events on P2, which the catalogue lacks


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError) as err:
        load_dataset(tmp_path / "nope")
    assert "nope" in err.value.problems[0].file and schema.PRODUCTS_FILE in err.value.problems[0].message


def test_missing_products_file(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(DataValidationError) as err:
        load_dataset(tmp_path / "d")
    assert err.value.problems[0].file.endswith(schema.PRODUCTS_FILE)


def test_corrupt_parquet(tmp_path: Path) -> None:
    folder = write(tmp_path / "d", raw_products())
    (folder / schema.EVENTS_FILE).write_bytes(b"not parquet")
    with pytest.raises(DataValidationError) as err:
        load_dataset(folder)
    assert err.value.problems[0].file.endswith(schema.EVENTS_FILE)


def test_make_dataset_from_memory() -> None:
    data = make_dataset(raw_products(), raw_events().assign(user_id=[3, 1, 1]))
    assert data.events[schema.USER_ID].tolist() == ["1", "1", "3"] and data.source == "memory"
    assert len(make_dataset(raw_products()).events) == 0


def test_dataset_is_frozen() -> None:
    data = make_dataset(raw_products())
    with pytest.raises(dataclasses.FrozenInstanceError):
        data.source = "x"  # type: ignore[misc]


def test_fingerprint_follows_content() -> None:
    a = make_dataset(raw_products(), raw_events())
    b = make_dataset(raw_products(), raw_events(), source="elsewhere")
    c = make_dataset(raw_products().assign(title=["Mug", "Tea!"]), raw_events())
    assert len(a.fingerprint()) == 16 and a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_fingerprint_is_stable_across_processes() -> None:
    code = (
        "import pandas as pd; from recsys.data.dataset import make_dataset; "
        "p = pd.DataFrame({'product_id': ['P1', 'P2'], 'title': ['Mug', 'Tea']}); "
        "print(make_dataset(p).fingerprint())"
    )
    prints = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip()
        for seed in ("1", "2")
    }
    assert prints == {make_dataset(raw_products()).fingerprint()}


def test_all_exported_names_exist() -> None:
    assert all(hasattr(dataset, name) for name in dataset.__all__)
    assert Dataset.__dataclass_params__.frozen  # type: ignore[attr-defined]
