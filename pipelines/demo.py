"""The quickstart job: build the shipped sample, then show recommendations for three real users and
one free-text query, the ads that win beside each answer, and a small batch of ad-targeting audiences.

    python pipelines/demo.py --data data/amazon2018_gift_cards --index indexes/gift_cards

Ads come from the sample's hand-written `campaigns.jsonl` through the same library calls as
`recsys ads match` (`AdMatcher.build`, `ads_beside`); audiences through the ones behind
`recsys audience build` (`build_for_index`, `write_build`), written to `INDEX/audiences/` (git-ignored,
beside the versions), where the dashboard of `recsys serve` finds their summary. Without a campaigns
file the demo shows recommendations only.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from recsys import Recommender, load_dataset, make_encoder  # noqa: E402
from recsys.ads.answer import ads_beside  # noqa: E402
from recsys.ads.matcher import AdAnswer, AdMatcher  # noqa: E402
from recsys.artifacts import POSITION  # noqa: E402
from recsys.audience import AudienceParams, build_for_index, make_executor  # noqa: E402
from recsys.audience.output import check_file_names, write_build  # noqa: E402
from recsys.build.pipeline import BuildOptions, build_index  # noqa: E402
from recsys.campaigns import Campaign, load_campaigns  # noqa: E402
from recsys.cli.render import err, out, print_results  # noqa: E402
from recsys.recommender import RecommendationList  # noqa: E402

QUERY = "a gift card for a coffee lover who likes Starbucks"
CAMPAIGNS_FILE = "campaigns.jsonl"  # looked for in the --data folder
AUDIENCES_DIR = "audiences"  # inside the index folder: not a version (no manifest), read by the dashboard
ADS_PER_ANSWER = 2
AUDIENCE_SIZE = 20


@dataclass(frozen=True)
class DemoAudiences:
    out: Path
    summary: dict[str, Any]  # summary.json as `write_build` returns it
    warnings: tuple[str, ...]
    seconds: float


def ads_for(matcher: AdMatcher, rec: Recommender, answer: RecommendationList, *, user: str | None = None,
            texts: Sequence[str] = ()) -> AdAnswer:
    """The ads beside `answer`, matched to the context as `recsys ads match --user / --text` does."""
    if user is not None and answer.strategy == "personal":
        history = rec.art.user_history(user)
        return ads_beside(matcher, rec, answer, n_ads=ADS_PER_ANSWER, user_vector=rec.art.user_vector(user),
                          history_pos=history[POSITION].to_numpy())
    return ads_beside(matcher, rec, answer, n_ads=ADS_PER_ANSWER, texts=texts)


def build_audiences(rec: Recommender, campaigns: Sequence[Campaign], out_dir: Path,
                    size: int = AUDIENCE_SIZE) -> DemoAudiences:
    """The top `size` users per active campaign (10 % holdout), written as `recsys audience build` writes them."""
    t0 = time.perf_counter()
    check_file_names([c.campaign_id for c in campaigns])
    with make_executor("local", rec.art.user_vectors) as engine:
        result = build_for_index(rec.art, campaigns, rec.encoder, AudienceParams(size=size), engine)
    summary = write_build(result, campaigns, out_dir)
    return DemoAudiences(out_dir, summary, result.warnings, time.perf_counter() - t0)


def print_ads(ads: AdAnswer) -> None:
    out.print("[bold]  Ads[/]" + ("" if ads.ads else "  (none relevant enough to win)"), highlight=False)
    for i, a in enumerate(ads.ads, 1):
        out.print(f"  {i:>3}. [bold]{a.headline}[/] [dim]({a.campaign_id}, {a.advertiser or 'no advertiser'})[/]",
                  highlight=False)
        out.print(f"       {a.body}", highlight=False)
        lands = f" · lands on {a.product_title}" if a.product_title else " · no landing product"
        out.print(f"       [dim]{a.bid_type} {a.bid:g} · pCTR {a.pctr:.2%} · eCPM {a.ecpm:.2f}{lands}[/]",
                  highlight=False)
        out.print(f"       [dim]{a.why}[/]", highlight=False)


def print_audiences(aud: DemoAudiences) -> None:
    s = aud.summary
    out.print(f"\n[bold]Audiences[/]: top {s['parameters']['size']} users per active campaign, "
              f"{s['parameters']['holdout']:.0%} held out, {aud.seconds:.1f}s", highlight=False)
    out.print(f"  {'campaign':<25} {'kind':<9} {'target':>6} {'holdout':>7} {'median':>6} {'est.cost':>8}",
              highlight=False)
    for c in s["campaigns"]:
        kind = "lookalike" if c["lookalike"] else "content"
        out.print(f"  {c['campaign_id']:<25} {kind:<9} {c['reach_target']:>6} {c['reach_holdout']:>7} "
                  f"{c['score']['p50']:>6.3f} {c['estimated_cost']:>8.2f}", highlight=False)
    t = s["totals"]
    out.print(f"  {t['distinct_users']} distinct users; mean overlap (Jaccard) {s['overlap']['mean_jaccard']:.2f}",
              highlight=False)
    for w in aud.warnings:
        out.print(f"  [yellow]note:[/] {w}", highlight=False)
    out.print(f"  wrote {aud.out}/: one parquet per campaign, summary.json, summary.html", highlight=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--index", required=True)
    ap.add_argument("--encoder", default="all-MiniLM-L6-v2")
    ap.add_argument("--campaigns", help=f"campaigns file [DATA/{CAMPAIGNS_FILE} when it exists]")
    ap.add_argument("--audiences", help=f"folder for the demo's audiences [INDEX/{AUDIENCES_DIR}]")
    ap.add_argument("-k", type=int, default=10)
    args = ap.parse_args()

    t0 = time.perf_counter()
    ds = load_dataset(args.data)
    err.print(f"validated {len(ds.products):,} products and {len(ds.events):,} events from {args.data}")
    result = build_index(ds, args.index, make_encoder(args.encoder), BuildOptions(), log=err.print)
    rec = Recommender.load(args.index)
    campaigns_path = Path(args.campaigns) if args.campaigns else Path(args.data) / CAMPAIGNS_FILE
    campaigns = load_campaigns(campaigns_path) if args.campaigns or campaigns_path.is_file() else None
    matcher = AdMatcher.build(rec.art, campaigns, rec.encoder) if campaigns else None
    if campaigns:
        err.print(f"matching ads from {len(campaigns)} campaigns in {campaigns_path}")
    # Three real users: the most active, a median one, and one with a low-rated review if any.
    counts = ds.events.groupby("user_id").size().sort_values(ascending=False, kind="stable")
    users = [counts.index[0], counts.index[len(counts) // 2]]
    low = ds.events[ds.events.rating <= 2].user_id
    users.append(next((u for u in low if u not in users), counts.index[-1]))
    for user in users:
        answer = rec.for_user(user, args.k)
        print_results(answer, f"\nRecommendations for user {user} ({counts[user]} events)")
        if matcher is not None:
            print_ads(ads_for(matcher, rec, answer, user=user))
    answer = rec.for_text([QUERY], args.k)
    print_results(answer, f"\nFree-text query: “{QUERY}”")
    if matcher is not None:
        print_ads(ads_for(matcher, rec, answer, texts=[QUERY]))
    if campaigns:
        print_audiences(build_audiences(rec, campaigns, Path(args.audiences or Path(args.index) / AUDIENCES_DIR)))
    m = result.manifest
    err.print(
        f"\n[bold]demo done[/] in {time.perf_counter() - t0:.1f}s — build {result.timings['total_s']:.1f}s "
        f"(encode {result.timings['encode_s']:.1f}s at {m.encode_texts_per_s:.0f} texts/s, "
        f"index {result.timings['index_build_s']:.2f}s, {m.index.factory}, recall@10 vs exact {m.index.recall_at_10})"
    )
    serve = f".venv/bin/recsys serve --index {args.index}"
    if campaigns:
        serve += f" --campaigns {campaigns_path}"
    out.print(f"\nDashboard: run [bold]{serve}[/]\n           then open http://127.0.0.1:8000/dashboard",
              highlight=False)


if __name__ == "__main__":
    main()
