"""Write an evaluation report as JSON, a Markdown table and a self-contained HTML page (inline SVG)."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

__all__ = ["write_report", "markdown_table", "order_slice_markdown", "order_slice_rows", "tie_line", "svg_chart",
           "jsonable"]

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
    return _md_table(*_rows(report))


_ORDER_SLICE = "target_id_below_previous"
_ORDER_CONTRAST = "target_id_above_previous"


def tie_line(report: dict[str, Any]) -> str:
    """One sentence on how ties were handled: score ties in rankings, same-timestamp events in the data."""
    tb = report.get("config", {}).get("tie_break") or {}
    if tb:
        text = (f"Score ties: broken by a {tb.get('method', 'seeded random permutation of the catalogue')} "
                f"(seed {tb.get('seed', '?')}), never by product id or catalogue position.")
    else:
        text = "Score ties: not recorded in this report."
    ds = report.get("dataset", {})
    order = ds.get("same_time_order")
    if order == "source":
        text += " Same-timestamp events of a user keep the source file's row order (never product-id order)."
    elif order == "random":
        why = (" because the file's own order of them is product-id order"
               if ds.get("same_time_order_requested") == "auto" else "")
        text += f" Same-timestamp events of a user are in a seeded random order{why} (never product-id order)."
    return text


def _order_line(report: dict[str, Any]) -> str:
    order = report.get("split", {}).get("order") or {}
    share = order.get("consecutive_pairs_ascending_id")
    if not isinstance(share, (int, float)) or not _finite(share):
        return ""
    only = " Timestamps are order only (one day)." if order.get("timestamps_order_only") else ""
    return (f"Sequence order: {100 * share:.1f}% of consecutive interaction pairs ascend in product id "
            f"(about 50% when the order is unrelated to ids).{only}")


def order_slice_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Per method: overall R/NDCG@k beside the slice of targets whose id sorts below the previous item's."""
    k0 = _k0(report)
    header = ["method", f"R@{k0} all", f"NDCG@{k0} all", "users (id below)", f"R@{k0} id below [95% CI]",
              f"NDCG@{k0} id below [95% CI]", "users (id above)", f"R@{k0} id above"]
    rows = []
    for name, m in report.get("methods", {}).items():
        sl = (m.get("slices") or {}).get(_ORDER_SLICE) if not m.get("skipped") else None
        if not sl:
            continue
        above = (m.get("slices") or {}).get(_ORDER_CONTRAST) or {}
        rows.append([name, _fmt(m.get(f"recall@{k0}")), _fmt(m.get(f"ndcg@{k0}")), str(sl.get("users", "–")),
                     _with_ci(sl, f"recall@{k0}"), _with_ci(sl, f"ndcg@{k0}"), str(above.get("users", "–")),
                     _fmt(above.get(f"recall@{k0}"))])
    return header, rows


def _with_ci(values: dict[str, Any], metric: str) -> str:
    lo, hi = values.get(f"{metric}_ci95") or [None, None]
    return f"{_fmt(values.get(metric))} [{_fmt(lo, 3)}, {_fmt(hi, 3)}]"


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def order_slice_markdown(report: dict[str, Any]) -> str:
    """The order-artifact-free slice as a Markdown section ('' when the report has none)."""
    header, rows = order_slice_rows(report)
    if not rows:
        return ""
    intro = ("Order-artifact-free slice: users whose test item's product_id sorts below (string order) the id "
             "of their last train/validation item, so \"the next id sorts higher\" cannot help.")
    return f"## Target id below the previous item's\n\n{intro}\n\n{_md_table(header, rows)}\n"


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


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _html(report: dict[str, Any]) -> str:
    table = _html_table(*_rows(report))
    slice_header, slice_rows = order_slice_rows(report)
    order_section = ""
    if slice_rows:
        order_section = (f"<h2>Target id below the previous item's</h2><p>{html.escape(_order_line(report))}</p>"
                         f"{_html_table(slice_header, slice_rows)}")
    context = {k: report.get(k) for k in ("dataset", "config", "split")}
    details = html.escape(json.dumps(jsonable(context), indent=2))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>recsys evaluation</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}"
        "</style></head><body><h1>Offline evaluation</h1>"
        f"<p>{html.escape(_summary_line(report))}</p><p>{html.escape(tie_line(report))}</p>{svg_chart(report)}"
        f"{table}{order_section}<h2>Details</h2><pre>{details}</pre></body></html>\n"
    )


def write_report(report: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and ``report.html`` into ``out_dir`` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "md": out / "report.md", "html": out / "report.html"}
    paths["json"].write_text(json.dumps(jsonable(report), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    md = f"# Offline evaluation\n\n{_summary_line(report)}\n\n{tie_line(report)}\n\n{markdown_table(report)}\n"
    order_md = order_slice_markdown(report)
    if order_md:
        order_line = _order_line(report)
        md += f"\n{order_md}" + (f"\n{order_line}\n" if order_line else "")
    paths["md"].write_text(md, encoding="utf-8")
    paths["html"].write_text(_html(report), encoding="utf-8")
    return paths
