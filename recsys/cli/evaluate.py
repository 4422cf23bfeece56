"""`recsys evaluate` and `recsys tune`: offline recall@k benchmarking and blend tuning on any dataset."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from recsys.cli.render import err

if TYPE_CHECKING:
    from recsys.data.splits import SplitScheme

SplitOpt = Annotated[str, typer.Option(
    "--split", help="auto | last-day | global-time | leave-one-out. auto = leave-one-out when the timestamps "
                    "are order only (all on one day), else last-day.")]
OrderOpt = Annotated[str, typer.Option(
    "--same-time-order", help="Order of a user's same-timestamp events: auto (the file's row order, unless that "
                              "is evidently product-id order: then random), source (the file's row order) or "
                              "random (seeded by --seed).")]


def resolve_split(split: str, events: object) -> str:
    """``auto`` → leave-one-out for order-only timestamps, else last-day; other names pass through."""
    from recsys.data.splits import timestamps_order_only

    if split != "auto":
        return split
    chosen = "leave-one-out" if timestamps_order_only(events) else "last-day"  # type: ignore[arg-type]
    err.print(f"--split auto: using {chosen}"
              + (" (the timestamps are order only: every event falls on one day)" if chosen == "leave-one-out" else ""))
    return chosen
EncoderOpt = Annotated[str, typer.Option("--encoder", help="Encoder for the text and blend methods.")]


def _git_sha() -> str | None:
    try:
        r = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                           cwd=Path(__file__).resolve().parent)
        return r.stdout.strip() or None if r.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info() -> dict[str, object]:
    import os
    import platform

    import numpy as np

    info: dict[str, object] = {"python": platform.python_version(), "platform": platform.platform(),
                               "processor": platform.processor() or platform.machine(),
                               "cpus": os.cpu_count(), "numpy": np.__version__}
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:  # torch is a hard dependency; keep the report writable regardless
        info["torch"] = None
    return info


def _parse_ks(k: str) -> tuple[int, ...]:
    from recsys.errors import ConfigError

    try:
        ks = tuple(sorted({int(x) for x in k.split(",") if x.strip()}))
    except ValueError as exc:
        raise ConfigError(f"--k takes comma-separated integers like 10,20,50, got {k!r}") from exc
    if not ks or ks[0] < 1 or 10 not in ks:
        raise ConfigError(f"--k must list positive integers including 10 (the tuning cut-off), got {k!r}")
    return ks


def evaluate(
    data: Annotated[Path, typer.Option("--data", help="Dataset folder in the canonical schema.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for report.json, report.md, report.html.")],
    k: Annotated[str, typer.Option("--k", help="Cut-offs, comma-separated.")] = "10,20,50",
    split: SplitOpt = "auto",
    same_time_order: OrderOpt = "auto",
    sampled: Annotated[int, typer.Option(
        "--sampled", min=0, help="Also rank each target among N random negatives (0 = off).")] = 100,
    collapse_variant_copies: Annotated[bool, typer.Option("--collapse-variant-copies")] = False,
    cutoff: Annotated[str | None, typer.Option("--cutoff", help="UTC time for --split global-time.")] = None,
    encoder: EncoderOpt = "all-MiniLM-L6-v2",
    config: Annotated[Path | None, typer.Option("--config", help="Blend config for blend/blend_exact.")] = None,
    methods: Annotated[str | None, typer.Option("--methods", help="Comma-separated subset of methods.")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    n_boot: Annotated[int, typer.Option("--n-boot", min=0)] = 1000,
) -> None:
    """Recall@k / NDCG@k of every method, through the production index and blend, in one run."""
    import pandas as pd

    from recsys.config import BlendConfig, load_config
    from recsys.data.dataset import load_dataset
    from recsys.encoders import CachedEncoder, make_encoder
    from recsys.evaluation import EvalConfig, evaluate_methods, write_report
    from recsys.evaluation.methods import all_methods

    ds = load_dataset(data, same_time_order=same_time_order, seed=seed)  # type: ignore[arg-type]
    split = resolve_split(split, ds.events)
    # EvalConfig checks the scheme name (a ConfigError naming the valid ones), so the cast only states its type
    cfg = EvalConfig(ks=_parse_ks(k), scheme=cast("SplitScheme", split),
                     cutoff=pd.Timestamp(cutoff, tz="UTC") if cutoff else None,
                     collapse_variant_copies=collapse_variant_copies, sampled_negatives=sampled, seed=seed,
                     n_boot=n_boot)
    enc = CachedEncoder(make_encoder(encoder))
    blend_cfg = load_config(config) if config else BlendConfig()
    scorers = all_methods(enc, blend_cfg, k=max(cfg.ks), only=methods.split(",") if methods else None)
    err.print(f"evaluating {', '.join(scorers)} on {data} ({len(ds.products):,} products, {len(ds.events):,} events)")
    report = evaluate_methods(ds.products, ds.events, scorers, cfg, progress=True)
    report["dataset"]["fingerprint"] = ds.fingerprint()
    report["dataset"]["source"] = str(data)
    report["dataset"]["same_time_order"] = ds.same_time_order
    report["dataset"]["same_time_order_requested"] = same_time_order
    report["git_sha"] = _git_sha()
    report["machine"] = machine_info()
    report["encoder"] = enc.describe()
    tuned = getattr(scorers.get("blend_tuned"), "tuned", None)
    out.mkdir(parents=True, exist_ok=True)
    if tuned is not None:
        (out / "blend_tuned.json").write_text(tuned.model_dump_json(indent=2), encoding="utf-8")
        report["config"]["blend_tuned"] = tuned.model_dump()
    write_report(report, out)
    err.print(f"[green]wrote[/] {out}/report.json, report.md, report.html")
    print((out / "report.md").read_text(encoding="utf-8"))


def tune(
    data: Annotated[Path, typer.Option("--data", help="Dataset folder in the canonical schema.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the tuned blend config (.json).")],
    split: SplitOpt = "auto",
    encoder: EncoderOpt = "all-MiniLM-L6-v2",
    config: Annotated[Path | None, typer.Option("--config", help="Starting blend config.")] = None,
    max_users: Annotated[int, typer.Option("--max-users", min=10)] = 3000,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Search blend weights and profile parameters on the validation split; save the config with an id."""
    from tqdm import tqdm

    from recsys.config import BlendConfig, load_config
    from recsys.data.dataset import load_dataset
    from recsys.encoders import CachedEncoder, make_encoder
    from recsys.evaluation import build_eval_data, split_events
    from recsys.evaluation.blend_scorers import BlendScorer
    from recsys.evaluation.runner import valid_targets
    from recsys.evaluation.tuning import tune_blend

    ds = load_dataset(data)
    sp = split_events(ds.events, resolve_split(split, ds.events))  # type: ignore[arg-type]
    train = build_eval_data(ds.products, sp.train, users=sp.valid_users, seed=seed)
    rows, targets = valid_targets(train, sp)
    scorer = BlendScorer(CachedEncoder(make_encoder(encoder)), load_config(config) if config else BlendConfig())
    bar = tqdm(desc="tuning", unit="trial")

    def on_trial(params: dict, value: float) -> None:
        bar.update(1)
        bar.set_postfix_str(f"ndcg@10={value:.4f}")

    tuned, trials = tune_blend(scorer, train, rows, targets, max_users=max_users, seed=seed, on_trial=on_trial)
    bar.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(tuned.model_dump_json(indent=2), encoding="utf-8")
    best = max(t["value"] for t in trials)
    start = trials[0]["value"]
    err.print(f"[green]wrote[/] {out} (id {tuned.id}): validation NDCG@10 {start:.4f} → {best:.4f} "
              f"over {len(trials)} trials")
    print(json.dumps({"id": tuned.id, "valid_ndcg@10_start": start, "valid_ndcg@10_best": best,
                      "trials": len(trials), "config": tuned.model_dump()}))
