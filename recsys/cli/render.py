"""Human-readable and JSON output for the CLI (stdout holds results only; logs go to stderr)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console

if TYPE_CHECKING:
    from recsys.recommender import RecommendationList

__all__ = ["out", "err", "print_results", "print_json"]

out = Console(soft_wrap=False)
err = Console(stderr=True)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")


def _fmt_parts(parts: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.3f}" for k, v in parts.items() if abs(v) >= 0.0005)


def print_results(answer: RecommendationList, heading: str) -> None:
    out.print(f"[bold]{heading}[/]", highlight=False)
    meta = f"strategy={answer.strategy} · config={answer.config_id} · index={answer.index_version}"
    if answer.fallback:
        meta += f" · fallback={answer.fallback}"
    out.print(f"[dim]{meta}[/]", highlight=False)
    if not answer.results:
        out.print("  (no products pass the filters)")
    for i, r in enumerate(answer.results, 1):
        title = r.title or "(no title)"
        out.print(f"{i:>3}. [bold]{title}[/] [dim]({r.product_id})[/]  score {r.score:.3f}", highlight=False)
        line = f"     {_fmt_parts(r.parts)}"
        if r.sources:
            line += f"  · from {'+'.join(r.sources)}"
        out.print(f"[dim]{line}[/]", highlight=False)
        if r.because:
            out.print(f"     {r.because}", highlight=False)
