"""The quickstart job: build the shipped sample, then show recommendations for three real users and
one free-text query.

    python pipelines/demo.py --data data/amazon2018_gift_cards --index indexes/gift_cards
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from recsys import Recommender, load_dataset, make_encoder  # noqa: E402
from recsys.build.pipeline import BuildOptions, build_index  # noqa: E402
from recsys.cli.render import err, print_results  # noqa: E402

QUERY = "a gift card for a coffee lover who likes Starbucks"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--index", required=True)
    ap.add_argument("--encoder", default="all-MiniLM-L6-v2")
    ap.add_argument("-k", type=int, default=10)
    args = ap.parse_args()

    t0 = time.perf_counter()
    ds = load_dataset(args.data)
    err.print(f"validated {len(ds.products):,} products and {len(ds.events):,} events from {args.data}")
    result = build_index(ds, args.index, make_encoder(args.encoder), BuildOptions(), log=err.print)
    rec = Recommender.load(args.index)
    # Three real users: the most active, a median one, and one with a low-rated review if any.
    counts = ds.events.groupby("user_id").size().sort_values(ascending=False, kind="stable")
    users = [counts.index[0], counts.index[len(counts) // 2]]
    low = ds.events[ds.events.rating <= 2].user_id
    users.append(next((u for u in low if u not in users), counts.index[-1]))
    for user in users:
        print_results(rec.for_user(user, args.k), f"\nRecommendations for user {user} ({counts[user]} events)")
    print_results(rec.for_text([QUERY], args.k), f"\nFree-text query: “{QUERY}”")
    m = result.manifest
    err.print(
        f"\n[bold]demo done[/] in {time.perf_counter() - t0:.1f}s — build {result.timings['total_s']:.1f}s "
        f"(encode {result.timings['encode_s']:.1f}s at {m.encode_texts_per_s:.0f} texts/s, "
        f"index {result.timings['index_build_s']:.2f}s, {m.index.factory}, recall@10 vs exact {m.index.recall_at_10})"
    )


if __name__ == "__main__":
    main()
