"""Offline recall@k benchmark: a thin wrapper over `recsys evaluate` that also stamps the output
folder under benchmarks/results/<dataset>-<split>/ by default.

    python benchmarks/evaluate.py --data data/amazon2018_gift_cards [--split last-day] [extra evaluate flags]
"""

from __future__ import annotations

import sys
from pathlib import Path

from recsys.cli.main import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--out" not in args:
        data = Path(args[args.index("--data") + 1]).name if "--data" in args else "data"
        split = args[args.index("--split") + 1] if "--split" in args else "last-day"
        args += ["--out", str(Path(__file__).parent / "results" / f"{data}-{split}")]
    sys.argv = [sys.argv[0], "evaluate", *args]
    main()
