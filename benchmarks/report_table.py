"""Print the markdown table of one `recsys evaluate` report.json: every method's R@10 with its 95% CI,
NDCG@10, the cold-item slice and, for order-only data, the slice "target id sorts below the previous
item's id", plus each method's ratio to EASE.

    python benchmarks/report_table.py benchmarks/results/quality-gift_cards/report.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _ci(m: dict, key: str) -> str:
    lo, hi = m.get(f"{key}_ci95", [float("nan"), float("nan")])
    return f"{m[key]:.4f} [{lo:.3f}, {hi:.3f}]"


def table(report: dict) -> str:
    methods = report["methods"]
    ease = methods.get("ease", {}).get("recall@10")
    order_key = next((k for m in methods.values() for k in m.get("slices", {}) if "below" in k), None)
    head = "| method | R@10 [95% CI] | ×EASE | NDCG@10 | cold-item targets: R@10 (n) |"
    sep = "|---|---|---|---|---|"
    if order_key:
        head += " target id below previous: R@10 [95% CI] (users) | ×EASE on the slice |"
        sep += "---|---|"
    ease_slice = methods.get("ease", {}).get("slices", {}).get(order_key or "", {})
    lines = [head, sep]
    for name, m in methods.items():
        if "recall@10" not in m:
            lines.append(f"| {name} | skipped: {m.get('skipped', m.get('error', '?'))} | | | |")
            continue
        cold = m.get("slices", {}).get("cold_items", {})
        ratio = f"{m['recall@10'] / ease:.2f}" if ease else "–"
        row = (f"| {name} | {_ci(m, 'recall@10')} | {ratio} | {m['ndcg@10']:.4f} | "
               f"{cold.get('recall@10', float('nan')):.3f} ({cold.get('targets', 0)}) |")
        if order_key:
            s = m.get("slices", {}).get(order_key, {})
            r = s.get("recall@10", float("nan"))
            lo, hi = s.get("recall@10_ci95", [float("nan"), float("nan")])
            er = ease_slice.get("recall@10")
            row += f" {r:.4f} [{lo:.3f}, {hi:.3f}] ({s.get('users', 0)}) | {r / er:.2f} |" if er else f" {r:.4f} | – |"
        lines.append(row)
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reports", type=Path, nargs="+")
    for path in ap.parse_args().reports:
        report = json.loads(path.read_text(encoding="utf-8"))
        print(f"### {path.parent.name} (git {str(report.get('git_sha', ''))[:8]})\n")
        print(table(report) + "\n")


if __name__ == "__main__":
    main()
