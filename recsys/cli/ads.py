"""`recsys ads match`: organic results and the ads that win beside them, for a user, free text or a product.

    recsys ads match --index INDEX_DIR --campaigns FILE (--user ID | --text "..." | --item ID) [--json]
                     [-k 10] [--ads 2] [--events-db FILE] [--relevance-floor 0.2] [--min-percentile 0.8]

Spend and frequency come from the ad impressions/clicks in the events database (`--events-db`, by
default the one `recsys serve` uses beside the index, when it exists).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from recsys.cli.render import err, out, print_json, print_results
from recsys.errors import ConfigError

ads_app = typer.Typer(no_args_is_help=True, help="Ad campaigns: ads matched beside organic results.")


def _events_db(index: Path, given: str | None) -> Path | str | None:
    from recsys.store.postgres import is_postgres_url

    if given is not None:
        return given if is_postgres_url(given) else Path(given)
    default = (index if index.is_dir() else index.parent) / "events.db"
    return default if default.is_file() else None


@ads_app.command("match")
def match(
    index: Annotated[Path, typer.Option("--index", help="Index folder.")],
    campaigns: Annotated[Path, typer.Option("--campaigns", help="Campaigns file (.parquet or .jsonl).")],
    user: Annotated[str | None, typer.Option("--user", help="Match for this user.")] = None,
    text: Annotated[list[str] | None, typer.Option("--text", help="Match for free text (repeatable).")] = None,
    item: Annotated[str | None, typer.Option("--item", help="Match on this product's page.")] = None,
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=1000, help="Organic results.")] = 10,
    n_ads: Annotated[int, typer.Option("--ads", min=0, max=50, help="Most ads to return.")] = 2,
    events_db: Annotated[str | None, typer.Option(
        "--events-db", help="Events (ad spend): a SQLite file or postgresql://USER@HOST/DB.")] = None,
    floor: Annotated[float | None, typer.Option("--relevance-floor", min=-1.0, max=1.0,
                                                   help="Minimum cosine to the context [0.2].")] = None,
    percentile: Annotated[float | None, typer.Option("--min-percentile", min=0.0, max=1.0,
                                                        help="Closer than this share of products [0.8].")] = None,
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant whose ad events count.")] = "default",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Organic recommendations plus the ads that win the auction beside them."""
    from recsys.ads.answer import ads_beside
    from recsys.ads.auction import AdParams
    from recsys.ads.matcher import AdMatcher
    from recsys.campaigns import load_campaigns
    from recsys.index import set_search_threads
    from recsys.recommender import Recommender
    from recsys.store import open_event_store

    if sum(x is not None for x in (user, text, item)) != 1:
        raise ConfigError("give exactly one of --user ID, --text \"...\" or --item PRODUCT_ID")
    set_search_threads(1)
    camps = load_campaigns(campaigns)
    rec = Recommender.load(index)
    db = _events_db(index, events_db)
    ad_events = None
    if db is not None:
        store = open_event_store(db)
        try:
            ad_events = store.ad_events(tenant)
        finally:
            store.close()
    params = AdParams()
    if floor is not None:
        params = replace(params, relevance_floor=floor)
    if percentile is not None:
        params = replace(params, min_percentile=percentile)
    matcher = AdMatcher.build(rec.art, camps, rec.encoder, ad_events=ad_events, params=params)
    for w in matcher.cv.warnings:
        err.print(f"[yellow]warning:[/] {w}", highlight=False)
    if user is not None:
        answer = rec.for_user(user, k, on_unknown="raise")
        hist = rec.art.user_history(user)
        ads = ads_beside(matcher, rec, answer, n_ads=n_ads, user_vector=rec.art.user_vector(user),
                         history_pos=hist["position"].to_numpy())
    elif item is not None:
        answer = rec.similar_items(item, k)
        ads = ads_beside(matcher, rec, answer, n_ads=n_ads, item_id=item)
    else:
        answer = rec.for_text(text or [], k)
        ads = ads_beside(matcher, rec, answer, n_ads=n_ads, texts=text or [])
    if as_json:
        body = answer.to_dict()
        body.update(ads=ads.to_dict()["ads"], ads_excluded=ads.excluded, ctr_model=ads.ctr,
                    warnings=list(matcher.cv.warnings))
        print_json(body)
        return
    print_results(answer, "Organic results")
    out.print("[bold]Ads[/]" + ("" if ads.ads else "  (none won: see --json for why)"), highlight=False)
    for i, a in enumerate(ads.ads, 1):
        out.print(f"{i:>3}. [bold]{a.headline}[/] [dim]({a.campaign_id}, {a.advertiser or 'no advertiser'})[/]  "
                  f"eCPM {a.ecpm:.2f} · pCTR {a.pctr:.3%} · {a.bid_type} {a.bid:g}", highlight=False)
        out.print(f"     {a.body}", highlight=False)
        out.print(f"     [dim]{a.why}" + (f" · lands on {a.product_title}" if a.product_title else "") + "[/]",
                  highlight=False)
