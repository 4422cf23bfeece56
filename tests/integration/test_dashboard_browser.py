"""The dashboard in a real browser: headless Chromium, driven by selenium through the system's
chromedriver, against `recsys serve` on a free loopback port (with API keys) over a tiny index whose
coffee mug has a title written to break out of HTML.

Needs Debian's `chromium` and `chromium-driver` packages; without them the tests skip, unless
RECSYS_REQUIRE_BROWSER=1 (CI), where a missing browser fails them. Nothing is downloaded: selenium is
given both executables, so Selenium Manager never runs. `docs/screenshots.py` uses the same `chrome()`.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from recsys.build.pipeline import BuildOptions, build_index
from recsys.data.dataset import make_dataset
from recsys.encoders import make_encoder
from recsys.service.keys import create_key

from ..conftest import tiny_frames
from .test_server_process import server

REQUIRED = os.environ.get("RECSYS_REQUIRE_BROWSER") == "1"
try:
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    if REQUIRED:
        raise
    pytest.skip("selenium is not installed (pip install -e '.[test]')", allow_module_level=True)

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
#: A title that becomes markup and runs script if the page ever parses data as HTML.
HOSTILE = 'ceramic coffee mug <img src=x onerror="document.title=\'pwned\'"><b>bold</b>'


def browser_paths() -> tuple[str, str] | None:
    """(chromium, chromedriver) from PATH or /usr/bin, or None when either is missing."""
    def find(names: tuple[str, ...]) -> str | None:
        return next((p for n in names if (p := shutil.which(n) or shutil.which(n, path="/usr/bin"))), None)

    found = find(CHROMIUM), find(("chromedriver",))
    return (found[0], found[1]) if found[0] and found[1] else None


@contextmanager
def chrome(width: int = 1400, height: int = 1000) -> Iterator[webdriver.Chrome]:
    """Headless Chromium through the system's chromedriver, or skip (fail under RECSYS_REQUIRE_BROWSER=1)."""
    paths = browser_paths()
    if paths is None:
        reason = ("chromium and chromedriver are not installed (Debian: apt-get install chromium chromium-driver); "
                  "the dashboard's browser tests need them")
        if os.environ.get("RECSYS_REQUIRE_BROWSER") == "1":  # read per call: CI sets it, tests patch it
            pytest.fail(f"RECSYS_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-extensions", "--no-first-run", f"--window-size={width},{height}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=paths[1]))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver: webdriver.Chrome, css: str, timeout: float = 20.0):
    return WebDriverWait(driver, timeout).until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))


def wait_text(driver: webdriver.Chrome, css: str, text: str, timeout: float = 20.0) -> None:
    WebDriverWait(driver, timeout).until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))


def submit(driver: webdriver.Chrome, field: str, value: str) -> None:
    box = driver.find_element(By.ID, field)
    box.clear()
    box.send_keys(value + Keys.ENTER)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base URL, API key) of a real server over the tiny catalogue with a hostile product title, serving an
    active and a paused campaign."""
    tmp = tmp_path_factory.mktemp("dash")
    products, events = tiny_frames()
    products.loc[products.product_id == "c3", "title"] = HOSTILE
    build_index(make_dataset(products, events, "tiny"), tmp / "idx", make_encoder("hashing-256"),
                BuildOptions(progress=False))
    key, _ = create_key(tmp / "keys.json", "default")
    campaigns = tmp / "campaigns.jsonl"
    campaigns.write_text(
        '{"campaign_id": "mugs", "advertiser": "cafe", "landing_product_ids": ["c3"], "bid_type": "cpc", "bid": 1}\n'
        '{"campaign_id": "off", "advertiser": "shoes", "landing_product_ids": ["r1"], "bid_type": "cpc", "bid": 9,'
        ' "status": "paused"}\n')
    with server(tmp / "idx", tmp, "--keys", str(tmp / "keys.json"), "--campaigns", str(campaigns)) as (base, _):
        yield base, key


@pytest.fixture(scope="module")
def driver(site: tuple[str, str]) -> Iterator[webdriver.Chrome]:
    """One browser for the module, its key entered once (it stays in the tab's sessionStorage)."""
    base, key = site
    with chrome() as d:
        d.get(base + "/dashboard")
        wait_text(d, "#notice", "API key")  # the API answered 401: the page asks for the key
        submit(d, "api-key", key)
        yield d


def api(site: tuple[str, str], path: str) -> dict:
    base, key = site
    r = httpx.get(base + path, headers={"X-API-Key": key}, timeout=10.0)
    r.raise_for_status()
    return r.json()


def test_overview_shows_the_version_counters_and_trending(site, driver):
    overview = api(site, "/v1/dashboard/overview")
    driver.get(site[0] + "/dashboard#overview")
    wait_text(driver, "#index-version", overview["index_version"])
    panel = driver.find_element(By.ID, "version-panel").text
    assert "hashing-256" in panel and "Flat" in panel and "recall@10" in panel
    wait(driver, "#live-chart svg")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#live-chart rect.minute")) == 60
    wait(driver, "#trending-panel tr.trending-item")
    assert "blend" in driver.find_element(By.ID, "ranker-panel").text


def test_user_lookup_shows_recommendations_portrait_and_history(site, driver):
    answer = api(site, "/v1/users/u_coffee/recommendations?k=10&explain=true")
    profile = api(site, "/v1/users/u_coffee/profile")
    driver.get(site[0] + "/dashboard#user")
    submit(driver, "user-id", "u_coffee")
    wait(driver, "#recs tr.result")
    recs = driver.find_element(By.ID, "recs")
    rows = recs.find_elements(By.CSS_SELECTOR, "tr.result")
    assert [r.get_attribute("data-product-id") for r in rows] == [x["product_id"] for x in answer["results"]]
    for x in answer["results"]:
        assert x["title"] in recs.text
    assert HOSTILE in recs.text  # the mug's title shown as text ...
    assert not recs.find_elements(By.CSS_SELECTOR, "img, b")  # ... never as markup
    assert driver.title == "recsys dashboard"  # and its onerror never ran
    portrait = driver.find_element(By.ID, "portrait").text
    assert profile["interests"] and profile["interests"][0]["label"] in portrait
    history = driver.find_element(By.ID, "history").text
    assert "espresso coffee beans dark roast" in history and "burr coffee grinder" in history
    assert driver.find_elements(By.CSS_SELECTOR, "#recs .tag")  # score parts or sources
    why = {x["campaign_id"]: x["reason"] for x in answer["ads_excluded"]}
    assert why["off"] == "paused"
    ads = driver.find_element(By.ID, "ads").text
    assert "Excluded" in ads and "off" in ads and "paused" in ads  # why the paused campaign got no ad


def test_product_lookup_shows_similar_items(site, driver):
    answer = api(site, "/v1/items/r1/similar?k=10")
    driver.get(site[0] + "/dashboard#product")
    submit(driver, "product-id", "r1")
    wait(driver, "#similar tr.result")
    similar = driver.find_element(By.ID, "similar")
    assert "Similar to r1" in similar.text
    for x in answer["results"]:
        assert x["title"] in similar.text
    rows = similar.find_elements(By.CSS_SELECTOR, "tr.result")
    assert [r.get_attribute("data-product-id") for r in rows] == [x["product_id"] for x in answer["results"]]
    assert "r1" not in [r.get_attribute("data-product-id") for r in rows]


def test_free_text_query_and_an_unknown_user(site, driver):
    driver.get(site[0] + "/dashboard#search")
    submit(driver, "search-text", "gps watch for running")
    wait(driver, "#search-results tr.result")
    assert "gps running watch" in driver.find_element(By.ID, "search-results").text
    driver.get(site[0] + "/dashboard#user/nobody-at-all")
    wait_text(driver, "#user-out", "UnknownUserError")
    assert "POST /v1/recommendations" in driver.find_element(By.ID, "user-out").text  # the API's hint


def test_without_a_browser_the_tests_skip_or_under_ci_fail(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys.modules[__name__], "browser_paths", lambda: None)
    monkeypatch.delenv("RECSYS_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium chromium-driver"), chrome():
        pass
    monkeypatch.setenv("RECSYS_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="RECSYS_REQUIRE_BROWSER=1"), chrome():
        pass
