"""Screenshots of the dashboard for the README, taken with the browser test's headless Chromium.

    python docs/screenshots.py --index indexes/gift_cards --campaigns data/amazon2018_gift_cards/campaigns.jsonl

It starts `recsys serve` on a free loopback port over the given index (open mode), stores a few view and
purchase events over `--minutes` minutes so the events-per-minute chart has something to show (real
events of the index's own users and products, in a throw-away events database), then saves
`dashboard-overview.png`, `dashboard-user.png` and `dashboard-product.png` into `--out`. The overview
shows an evaluation report and audience summary when they sit in the index folder
(`recsys evaluate --out INDEX/eval`, `recsys audience build --out INDEX/audiences`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recsys.artifacts import load_artifacts  # noqa: E402
from tests.integration.test_dashboard_browser import chrome, submit, wait  # noqa: E402
from tests.integration.test_server_process import server  # noqa: E402


def _feed(base: str, users: list[str], products: list[str], minutes: float, rng: np.random.Generator) -> None:
    """Store a varying number of events every 15 s for `minutes`, so several minutes of the chart have bars."""
    end = time.monotonic() + minutes * 60
    with httpx.Client(base_url=base, timeout=10.0) as c:
        while True:
            n = int(rng.integers(3, 25))
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            batch = [{"user_id": str(rng.choice(users)), "product_id": str(rng.choice(products)),
                      "event_type": str(rng.choice(["view", "view", "click", "cart", "purchase"])), "timestamp": now}
                     for _ in range(n)]
            c.post("/v1/events", json={"events": batch}).raise_for_status()
            if time.monotonic() >= end:
                return
            time.sleep(15)


def _shoot(driver, path: Path, width: int = 1400, max_height: int = 1800) -> None:
    """The page down to `max_height` pixels (the README images stay under ~300 KB)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(max(height + 20, 700), max_height))
    time.sleep(0.5)
    driver.save_screenshot(str(path))
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--campaigns", type=Path)
    ap.add_argument("--out", type=Path, default=REPO / "docs")
    ap.add_argument("--user", default="A1U1G73EI5IRZF")
    ap.add_argument("--product", default="B00AR51Y5I")
    ap.add_argument("-k", type=int, default=6, help="Results per lookup (keeps the images small)")
    ap.add_argument("--minutes", type=float, default=3.0, help="How long to feed events before the overview")
    args = ap.parse_args()

    art = load_artifacts(args.index)
    users = sorted(set(art.history["user_id"].astype(str)))
    popular = art.history["product_id"].dropna().astype(str).value_counts().index[:40].tolist()
    extra = ("--campaigns", str(args.campaigns)) if args.campaigns else ()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, server(args.index, Path(tmp), *extra, timeout=300) as (base, _):
        _feed(base, users, popular, args.minutes, np.random.default_rng(0))
        with chrome(1400, 1000) as driver:
            driver.get(base + "/dashboard#overview")
            wait(driver, "#index-version")
            wait(driver, "#live-chart rect.minute")
            wait(driver, "#trending-panel tr.trending-item")
            _shoot(driver, args.out / "dashboard-overview.png")

            driver.set_window_size(1400, 1000)
            driver.get(base + "/dashboard#user")
            driver.execute_script("document.getElementById('user-k').value = arguments[0]", args.k)
            submit(driver, "user-id", args.user)
            wait(driver, "#recs tr.result")
            wait(driver, "#portrait")
            _shoot(driver, args.out / "dashboard-user.png", max_height=1150)

            driver.set_window_size(1400, 1000)
            driver.get(base + "/dashboard#product")
            driver.execute_script("document.getElementById('product-k').value = arguments[0]", args.k)
            submit(driver, "product-id", args.product)
            wait(driver, "#similar tr.result")
            _shoot(driver, args.out / "dashboard-product.png")


if __name__ == "__main__":
    main()
