"""Writing a build: ``DIR/<campaign_id>.parquet`` per campaign, ``DIR/summary.json``, ``DIR/summary.html``.

Files are written into a temporary folder beside ``DIR`` and moved into place one by one, so a failed
build never leaves half-written parquet files; campaign ids that cannot be file names are refused up
front, naming the campaign.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recsys.audience.build import AudienceBuild
from recsys.audience.summary import CostAssumptions, render_html, summarize
from recsys.campaigns.campaign import Campaign
from recsys.errors import DataValidationError, Problem

__all__ = ["check_file_names", "write_build"]

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+-]{0,199}$")
_RESERVED = {"summary"}


def check_file_names(campaign_ids: Sequence[str]) -> None:
    """Raise unless every campaign id is usable as a file name on any platform."""
    bad = [c for c in campaign_ids if not _SAFE.match(c) or c.lower() in _RESERVED]
    if bad:
        raise DataValidationError([Problem("campaigns", "campaign_id",
                                           f"campaign id {c!r} cannot name an audience file; use letters, digits "
                                           "and . _ = + - (not 'summary')", c) for c in bad[:5]])


def write_build(build: AudienceBuild, campaigns: Sequence[Campaign], out: str | Path,
                assumptions: CostAssumptions = CostAssumptions()) -> dict[str, Any]:
    """Write every audience and the summary into ``out``; return the summary dict."""
    out = Path(out)
    check_file_names(build.campaign_ids)
    params = {k: v for k, v in build.stats.get("params", {}).items()} or {
        "size": build.params.size, "min_score": build.params.min_score, "holdout": build.params.holdout,
        "max_per_user": build.params.max_per_user, "overfetch": build.params.overfetch}
    params["engine"] = build.stats.get("engine")
    summary = summarize(build.audiences, campaigns, params, assumptions, stats=build.stats, warnings=build.warnings)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".audience-", dir=out))
    try:
        for cid, frame in build.audiences.items():
            frame.to_parquet(tmp / f"{cid}.parquet", index=False)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
        (tmp / "summary.html").write_text(render_html(summary), encoding="utf-8")
        for f in sorted(tmp.iterdir()):
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary
