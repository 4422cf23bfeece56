"""Write an evaluation report as JSON, a Markdown table and a self-contained HTML page (inline SVG)."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

__all__ = ["write_report", "markdown_table", "svg_chart", "jsonable"]

_PRIMARY = 10


def jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars to Python, NaN/inf to None, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _k0(report: dict[str, Any]) -> int:
    ks = report.get("config", {}).get("ks") or [_PRIMARY]
    return _PRIMARY if _PRIMARY in ks else min(ks)


def _rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    ks = report.get("config", {}).get("ks") or [_PRIMARY]
    k0 = _k0(report)
    header = ["method", f"R@{k0} [95% CI]", f"NDCG@{k0}"] + [f"R@{k}" for k in ks if k != k0]
    header += ["MRR", f"coverage@{k0}", "params", "time s (tune / fit / score)"]
    n_sampled = report.get("config", {}).get("sampled_negatives") or 0
    if n_sampled:
        header.append(f"sampled{n_sampled} R@{k0}")
    rows = []
    for name, m in report.get("methods", {}).items():
        if m.get("skipped"):
            rows.append([name, f"skipped: {m.get('reason', '')}"] + [""] * (len(header) - 2))
            continue
        lo, hi = m.get(f"recall@{k0}_ci95", [None, None])
        recall = f"{_fmt(m.get(f'recall@{k0}'))} [{_fmt(lo, 3)}, {_fmt(hi, 3)}]"
        row = [name, recall, _fmt(m.get(f"ndcg@{k0}"))]
        row += [_fmt(m.get(f"recall@{k}")) for k in ks if k != k0]
        row += [_fmt(m.get("mrr")), _fmt(m.get(f"coverage@{k0}"), 3), json.dumps(m.get("params", {}))]
        row.append(" / ".join(_fmt(m.get(t), 1) for t in ("tune_s", "fit_s", "score_s")))
        if n_sampled:
            row.append(_fmt(m.get(f"sampled{n_sampled}_recall@{k0}")))
        rows.append(row)
    return header, rows


def markdown_table(report: dict[str, Any]) -> str:
    header, rows = _rows(report)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _summary_line(report: dict[str, Any]) -> str:
    sp, ds, cfg = report.get("split", {}), report.get("dataset", {}), report.get("config", {})
    return (
        f"{ds.get('products', '?')} products, {ds.get('events', '?')} events "
        f"(fingerprint {ds.get('fingerprint', '–')}); split {cfg.get('scheme', '?')}: "
        f"{sp.get('users_evaluated', '?')} users / {sp.get('test_targets', '?')} test targets evaluated, "
        f"excluded {sp.get('users_excluded', {})}. Ranking: {cfg.get('ranking', '')}."
    )


def _nice_step(top: float) -> float:
    """A round tick step (1, 2, 2.5 or 5 × 10^e) giving about four ticks up to ``top``."""
    raw = top / 4
    base = 10 ** math.floor(math.log10(raw))
    return next(m * base for m in (1, 2, 2.5, 5, 10) if m * base >= raw)


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _line(x1: float, x2: float, y1: float, y2: float, stroke: str) -> str:
    return f'<line x1="{x1:.1f}" x2="{x2:.1f}" y1="{y1:.1f}" y2="{y2:.1f}" stroke="{stroke}"/>'


def svg_chart(report: dict[str, Any], width: int = 720, height: int = 300) -> str:
    """Grouped bars of Recall@k and NDCG@k per method (k = 10 when present) with 95% CI whiskers."""
    k0 = _k0(report)
    series = [(f"recall@{k0}", "#4e79a7"), (f"ndcg@{k0}", "#f28e2b")]
    methods = [(n, m) for n, m in report.get("methods", {}).items() if not m.get("skipped")]
    values = [[m.get(key), *(m.get(f"{key}_ci95") or [])] for _, m in methods for key, _ in series]
    highest = max((v for vs in values for v in vs if _finite(v)), default=0.0) or 1.0
    step = _nice_step(highest)
    n_ticks = max(1, math.ceil(highest / step))
    y_max = step * n_ticks
    digits = max(2, len(f"{step:.6f}".rstrip("0").split(".")[1]))
    left, bottom, top = 50, 40, 20
    plot_h = height - bottom - top
    group_w = (width - left - 10) / max(1, len(methods))
    bar_w = group_w * 0.35

    def y(v: float) -> float:
        return top + plot_h * (1 - v / y_max)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="11">'
    ]
    for i in range(n_ticks + 1):
        v = step * i
        parts.append(_line(left, width - 10, y(v), y(v), "#ddd"))
        parts.append(f'<text x="{left - 4}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.{digits}f}</text>')
    for g, (name, m) in enumerate(methods):
        x0 = left + g * group_w + group_w * 0.15
        for s, (key, color) in enumerate(series):
            v = m.get(key)
            if not _finite(v):
                continue
            x = x0 + s * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{y(v):.1f}" width="{bar_w:.1f}" height="{y(0) - y(v):.1f}" '
                f'fill="{color}"><title>{html.escape(name)} {key} = {v:.4f}</title></rect>'
            )
            ci = m.get(f"{key}_ci95")
            if ci and all(_finite(c) for c in ci):
                cx = x + bar_w / 2
                parts.append(_line(cx, cx, y(ci[0]), y(ci[1]), "#222"))
                parts += [_line(cx - 4, cx + 4, y(c), y(c), "#222") for c in ci]
        label_y = height - bottom + 15
        parts.append(f'<text x="{x0 + bar_w:.1f}" y="{label_y}" text-anchor="middle">{html.escape(name)}</text>')
    for s, (key, color) in enumerate(series):
        x = left + 10 + s * 110
        parts.append(f'<rect x="{x}" y="{height - 14}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{x + 14}" y="{height - 5}">{key}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _html(report: dict[str, Any]) -> str:
    header, rows = _rows(report)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    context = {k: report.get(k) for k in ("dataset", "config", "split")}
    details = html.escape(json.dumps(jsonable(context), indent=2))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>recsys evaluation</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}"
        "</style></head><body><h1>Offline evaluation</h1>"
        f"<p>{html.escape(_summary_line(report))}</p>{svg_chart(report)}"
        f"<table><tr>{head}</tr>{body}</table><h2>Details</h2><pre>{details}</pre></body></html>\n"
    )


def write_report(report: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and ``report.html`` into ``out_dir`` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "md": out / "report.md", "html": out / "report.html"}
    paths["json"].write_text(json.dumps(jsonable(report), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    md = f"# Offline evaluation\n\n{_summary_line(report)}\n\n{markdown_table(report)}\n"
    paths["md"].write_text(md, encoding="utf-8")
    paths["html"].write_text(_html(report), encoding="utf-8")
    return paths
