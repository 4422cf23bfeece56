"""What each step of the request path bought: the same index, load and machine, one server per commit.

    python benchmarks/bench_api_steps.py --index INDEX --refs fd80337,1a04072,5450ad3,HEAD
        [--concurrency 16] [--duration 10] [--mix recommend] [--out benchmarks/results/api-steps.json]

For each git ref, checks the commit out into a temporary worktree, starts `recsys serve` from it
(PYTHONPATH at the worktree, this checkout's virtual environment) on the same index folder, drives it
with wrk at one concurrency level, and records req/s, latency percentiles and the server's CPU
milliseconds per request. The CPU per request is the figure to compare across refs when other jobs share
the cores: it measures the work, not the queueing. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import wrk_load  # noqa: E402
from bench_api import REPO, machine, server_cpu_s, server_rss_mb, start_server, workload  # noqa: E402


def run_ref(ref: str, index: Path, mix: str, concurrency: int, duration: float, warmup: float,
            n_items: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="api-steps-") as tmp_s:
        tmp = Path(tmp_s)
        code = tmp / "code"
        subprocess.run(["git", "worktree", "add", "--detach", str(code), ref], cwd=REPO, check=True,
                       capture_output=True)
        sha = subprocess.run(["git", "rev-parse", "--short", ref], cwd=REPO, check=True, capture_output=True,
                             text=True).stdout.strip()
        try:
            proc, port, log = start_server(index, tmp, code=code)
            try:
                paths, _ = workload(mix, n_items, 20_000)
                wrk_load.wrk_level(port, paths, concurrency, warmup)
                cpu0 = server_cpu_s(proc.pid)
                row = wrk_load.wrk_level(port, paths, concurrency, duration)
                cpu = server_cpu_s(proc.pid) - cpu0
                row |= {"server_cpu_ms_per_request": round(1000 * cpu / max(int(row["requests"]), 1), 3),
                        "server_rss_mb": server_rss_mb(proc.pid)}
            finally:
                proc.kill()
                proc.wait(timeout=30)
                log.close()
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(code)], cwd=REPO, capture_output=True)
    return {"ref": ref, "sha": sha, **row}


def main() -> None:
    from recsys.index import Manifest, resolve_version

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--refs", required=True, help="Comma-separated git refs, oldest first.")
    ap.add_argument("--mix", choices=["recommend", "mixed"], default="recommend")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "api-steps.json")
    args = ap.parse_args()
    manifest = Manifest.load(resolve_version(args.index))
    rows = []
    for ref in args.refs.split(","):
        row = run_ref(ref, args.index, args.mix, args.concurrency, args.duration, args.warmup, manifest.index.count)
        rows.append(row)
        print(json.dumps({k: row[k] for k in ("ref", "rps", "latency_ms", "server_cpu_ms_per_request", "errors")}),
              file=sys.stderr)
    out = {"benchmark": "api-steps", "catalogue_items": manifest.index.count, "index_factory": manifest.index.factory,
           "workload": args.mix, "concurrency": args.concurrency, "duration_s": args.duration, "workers": 1,
           "client": "wrk -t1 on the same cores as the server", "machine": machine(), "steps": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
