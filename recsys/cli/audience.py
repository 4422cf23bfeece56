"""`recsys audience build` and `recsys audience evaluate` (the `audience_app` typer sub-app).

    recsys audience build --index INDEX_DIR --campaigns FILE --out DIR [--size N] [--min-score S]
                          [--holdout 0.1] [--max-per-user M] [--engine local|dask] [--dask-address ADDR]
                          [--opt-out FILE]
    recsys audience evaluate --data DIR --out OUT_DIR [--encoder NAME] [--min-users 3] [--sizes 10,50]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from recsys.cli.render import err

__all__ = ["audience_app", "read_opt_out"]

audience_app = typer.Typer(add_completion=False, no_args_is_help=True,
                           help="Batch ad-targeting audiences: build per campaign, evaluate offline.")


def read_opt_out(path: Path) -> list[str]:
    """User ids from a text file (one per line) or a parquet/CSV file with a user_id column."""
    import pandas as pd

    from recsys.errors import DataValidationError, Problem

    if not path.is_file():
        raise DataValidationError([Problem(str(path), "", "opt-out file not found; pass --opt-out FILE")])
    if path.suffix in (".parquet", ".csv"):
        try:
            frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid and pandas' ParserError are ValueErrors
            raise DataValidationError([Problem(str(path), "", f"cannot read the opt-out table ({exc}); "
                                                              "re-export it")]) from exc
        if "user_id" not in frame.columns:
            raise DataValidationError([Problem(str(path), "user_id", "the opt-out table needs a user_id column")])
        return [str(u) for u in frame["user_id"].dropna()]
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@audience_app.command("build")
def build(
    index: Annotated[Path, typer.Option("--index", help="Index folder (root with `current`, or one version).")],
    campaigns: Annotated[Path, typer.Option("--campaigns", help="Campaigns (.parquet or .jsonl).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for <campaign_id>.parquet and summary.json/html.")],
    size: Annotated[int, typer.Option("--size", min=1, help="Users per audience (target + holdout).")] = 10_000,
    min_score: Annotated[float | None, typer.Option("--min-score", help="Drop users scoring below this.")] = None,
    holdout: Annotated[float, typer.Option("--holdout", min=0.0, max=0.99, help="Holdout share for lift.")] = 0.1,
    max_per_user: Annotated[
        int | None, typer.Option("--max-per-user", min=1, help="Audiences per user at most.")
    ] = None,
    engine: Annotated[str, typer.Option("--engine", help="local | dask")] = "local",
    dask_address: Annotated[
        str | None, typer.Option("--dask-address", help="Scheduler address (default: a LocalCluster).")
    ] = None,
    dask_timeout: Annotated[
        float, typer.Option("--dask-timeout", min=1.0, help="Seconds to wait for the cluster.")
    ] = 600.0,
    opt_out: Annotated[
        Path | None, typer.Option("--opt-out", help="User ids never to target (text, parquet or csv).")
    ] = None,
    impressions_per_user: Annotated[float, typer.Option("--impressions-per-user", min=0.001)] = 3.0,
    ctr: Annotated[float, typer.Option("--ctr", min=0.000001, max=1.0, help="Expected CTR for CPC cost.")] = 0.01,
) -> None:
    """Rank all users per campaign and write audiences with a holdout group and a summary."""
    from recsys.artifacts import load_artifacts
    from recsys.audience.build import AudienceParams, build_for_index
    from recsys.audience.executor import DaskOptions, make_executor
    from recsys.audience.output import check_file_names, write_build
    from recsys.audience.summary import CostAssumptions
    from recsys.campaigns import load_campaigns
    from recsys.encoders import make_encoder
    from recsys.errors import ConfigError

    if engine not in ("local", "dask"):
        raise ConfigError(f"--engine must be 'local' or 'dask', got {engine!r}")
    if dask_address and engine != "dask":
        raise ConfigError("--dask-address needs --engine dask")
    params = AudienceParams(size=size, min_score=min_score, holdout=holdout, max_per_user=max_per_user)
    assumptions = CostAssumptions(impressions_per_user=impressions_per_user, expected_ctr=ctr)
    camps = load_campaigns(campaigns)
    check_file_names([c.campaign_id for c in camps])
    excluded_ids = read_opt_out(opt_out) if opt_out else []
    art = load_artifacts(index)
    encoder = make_encoder(art.manifest.encoder.name)
    err.print(f"building audiences for {len(camps)} campaign(s) over {len(art.user_ids):,} users ({engine})")
    with make_executor(engine, art.user_vectors,  # type: ignore[arg-type]
                     dask=DaskOptions(address=dask_address, timeout_s=dask_timeout)) as eng:
        result = build_for_index(art, camps, encoder, params, eng, opted_out=excluded_ids)
    summary = write_build(result, camps, out, assumptions)
    for w in result.warnings:
        err.print(f"[yellow]warning:[/] {w}")
    t = summary["totals"]
    err.print(f"[green]wrote[/] {len(result.audiences)} audience(s) to {out}: {t['rows']:,} rows, "
              f"{t['distinct_users']:,} distinct users, holdout share {t['holdout_share']:.2f}, "
              f"{result.stats['total_s']:.1f}s")
    print(json.dumps({"out": str(out), "totals": t,
                      "reach": {c["campaign_id"]: c["reach"] for c in summary["campaigns"]}}))


@audience_app.command("evaluate")
def evaluate(
    data: Annotated[Path, typer.Option("--data", help="Dataset folder in the canonical schema.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for audience_eval.json.")],
    encoder: Annotated[str, typer.Option("--encoder", help="Encoder for the train-only index.")] = "all-MiniLM-L6-v2",
    cutoff: Annotated[str | None, typer.Option("--cutoff", help="UTC time splitting train from test.")] = None,
    min_users: Annotated[
        int, typer.Option("--min-users", min=1, help="Test buyers a product needs to be a campaign.")
    ] = 3,
    sizes: Annotated[str, typer.Option("--sizes", help="Fixed audience sizes, comma-separated.")] = "10,50",
) -> None:
    """Precision/recall at audience size and lift over random and popularity targeting, into JSON."""
    import pandas as pd

    from recsys.audience.evaluate import AudienceEvalConfig, evaluate_audiences
    from recsys.cli.evaluate import _git_sha, machine_info
    from recsys.data.dataset import load_dataset
    from recsys.encoders import make_encoder
    from recsys.errors import ConfigError

    try:
        size_list = tuple(sorted({int(s) for s in sizes.split(",") if s.strip()}))
    except ValueError as exc:
        raise ConfigError(f"--sizes takes comma-separated integers like 10,50, got {sizes!r}") from exc
    cfg = AudienceEvalConfig(cutoff=pd.Timestamp(cutoff, tz="UTC") if cutoff else None, min_users=min_users,
                             sizes=size_list)
    ds = load_dataset(data)
    report = evaluate_audiences(ds.products, ds.events, make_encoder(encoder), cfg, log=lambda m: err.print(m))
    report["dataset"] = {"source": str(data), "fingerprint": ds.fingerprint()}
    report["git_sha"] = _git_sha()
    report["machine"] = machine_info()
    out.mkdir(parents=True, exist_ok=True)
    (out / "audience_eval.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    err.print(f"[green]wrote[/] {out}/audience_eval.json ({report['n_campaigns']} campaigns)")
    print(json.dumps({"n_campaigns": report["n_campaigns"], "summary": report["summary"]}))
