"""`recsys profile --index INDEX_DIR --user ID [--json] [--top N]`: a user's interest portrait (用户画像)
from the indexed history, the same body as GET /v1/users/{id}/profile minus live events."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from recsys.cli.render import out, print_json
from recsys.errors import UnknownUserError

__all__ = ["profile", "render_portrait"]


def render_portrait(body: dict[str, Any]) -> None:
    """Human-readable portrait on stdout: interests with their share, terms and examples, then items."""
    zh = body.get("language") == "zh"
    out.print(f"[bold]{'用户画像' if zh else 'Interest portrait of'} {body['user_id']}[/]", highlight=False)
    meta = f"language={body['language']} · events={body['n_events']} · index={body.get('index_version', '?')}"
    out.print(f"[dim]{meta}[/]", highlight=False)
    interests = body.get("interests") or []
    if not interests:
        out.print("  (no positive evidence: no interests)")
    for i, c in enumerate(interests, 1):
        out.print(f"{i:>3}. [bold]{c['label']}[/]  {c['share']:.0%} ({c['n_items']} items)", highlight=False)
        terms = " ".join(f"{t['term']}={t['weight']:.2f}" for t in c["terms"])
        out.print(f"[dim]     terms: {terms}[/]", highlight=False)
        for ex in c["examples"]:
            out.print(f"     · {ex['title'] or '(no title)'} [dim]({ex['product_id']})[/]", highlight=False)
    out.print("[bold]items[/]", highlight=False)
    for it in body.get("items") or []:
        s = it["sentiment"]
        sent = "" if s is None else f"  sentiment {s:+.2f}"
        out.print(f"  {it['weight']:+.2f}  {it['title'] or it['product_id']}  [dim]{', '.join(it['events'])}"
                  f"{sent}[/]", highlight=False)


def profile(
    index: Annotated[Path, typer.Option("--index", help="Index folder (root with `current`, or one version).")],
    user: Annotated[str, typer.Option("--user", help="User id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object for scripts.")] = False,
    top: Annotated[int, typer.Option("--top", min=1, max=100, help="How many items, terms and categories.")] = 10,
) -> None:
    """A user's interest portrait: interest clusters with top terms and example items, categories, terms,
    and the past items (with signed weight and review sentiment) that drive the profile."""
    from recsys.artifacts import load_artifacts
    from recsys.explain.portraits import portrait

    art = load_artifacts(index)
    if not art.knows_user(user):
        raise UnknownUserError(f"user {user!r} has no history in index {art.version}; check the id, or rebuild "
                               "the index after their events arrive (the HTTP service also sees live events)")
    body = portrait(user, art.user_history(user), art.user_vector(user), art, top=top)
    body["index_version"] = art.version
    if as_json:
        print_json(body)
    else:
        render_portrait(body)
