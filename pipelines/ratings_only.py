"""Offline job: a ratings-only variant of a canonical dataset — the same products and events with every
event's review text removed — to measure what recsys does on data like most public rating logs.

    python pipelines/ratings_only.py --data data/amazon2018_gift_cards --out data/gift_cards_ratings_only

Product texts (title, description, category, brand) are kept: only the users' own words go. The copy is
validated like any input before it is written, and a README beside it says where it came from.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from recsys.data import schema as S
from recsys.data.dataset import load_dataset, make_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="A dataset folder in the canonical schema.")
    ap.add_argument("--out", type=Path, required=True, help="Folder to write (created; must not hold data).")
    args = ap.parse_args()
    ds = load_dataset(args.data)
    events = ds.events.assign(**{S.TEXT: ""})
    out = make_dataset(ds.products, events, f"{ds.source} (ratings only)")
    args.out.mkdir(parents=True, exist_ok=True)
    if (args.out / "events.parquet").exists():
        raise SystemExit(f"{args.out} already holds a dataset; choose an empty folder")
    out.products.to_parquet(args.out / "products.parquet", index=False)
    out.events.to_parquet(args.out / "events.parquet", index=False)
    (args.out / "README.md").write_text(
        f"# Ratings-only variant of `{args.data.name}`\n\nWritten by `pipelines/ratings_only.py`: the same "
        f"{len(out.products):,} products and {len(out.events):,} events, every event's `text` emptied. "
        "See the source folder's README for the data's origin, licence and citation.\n", encoding="utf-8")
    print(f"wrote {args.out}: {len(out.products):,} products, {len(out.events):,} events without text")


if __name__ == "__main__":
    main()
