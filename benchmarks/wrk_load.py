"""Load from `wrk` (Debian's package: a C load generator, one thread, keep-alive connections) over the
same pre-built raw HTTP requests the Python client sends.

The requests go to a file separated by NUL bytes; a Lua script reads them in each wrk thread and sends a
random one per request (seeded per thread). wrk's `done` hook prints one JSON line: requests, seconds,
socket errors, non-2xx/3xx answers and latency percentiles. wrk costs far less CPU per request than an
asyncio client, so on a machine with few cores it leaves more of them to the server; it still shares them
(stated in every result).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

LUA = r"""
local reqs = {}
function init(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  for part in string.gmatch(data, "([^%z]+)") do reqs[#reqs + 1] = part end
  math.randomseed(tonumber(args[2]))
end
function request()
  return reqs[math.random(1, #reqs)]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, ' ..
    '"timeout": %d}, "latency_us": {"p50": %d, "p95": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean))
end
"""


def available() -> bool:
    return shutil.which("wrk") is not None


def wrk_level(port: int, requests: list[bytes], concurrency: int, duration: float, *, threads: int = 1,
              seed: int = 0, warmup: float = 0.0) -> dict[str, object]:
    """One closed-loop level: `concurrency` connections for `duration` seconds (after `warmup` seconds
    of the same load, not counted). Returns rps, latency percentiles (ms) and error counts."""
    if not available():
        raise SystemExit("wrk is not installed: apt-get install wrk (or use --client python)")
    with tempfile.TemporaryDirectory(prefix="wrk-") as tmp:
        script, reqs = Path(tmp) / "load.lua", Path(tmp) / "requests.bin"
        script.write_text(LUA)
        reqs.write_bytes(b"\0".join(requests))
        threads = max(1, min(threads, concurrency))

        def run(seconds: float) -> dict[str, object]:
            cmd = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
                   "-s", str(script), f"http://127.0.0.1:{port}", "--", str(reqs), str(seed)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            line = next(ln for ln in reversed(out.splitlines()) if ln.startswith("{"))
            return json.loads(line)

        if warmup > 0:
            run(warmup)
        raw = run(duration)
    seconds = raw["duration_us"] / 1e6
    errors = raw["errors"]
    lat = {k: round(v / 1000, 2) for k, v in raw["latency_us"].items()}
    return {"requests": raw["requests"], "seconds": round(seconds, 2), "rps": round(raw["requests"] / seconds, 1),
            "errors": sum(errors.values()), "error_kinds": errors, "latency_ms": lat}
