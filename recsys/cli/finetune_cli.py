"""`recsys finetune`: adapt the bundled encoder contrastively to a dataset's interactions.

Writes ``OUT/<version>/`` (a sentence-transformers folder plus ``recsys_model.json``) and points
``OUT/current`` at it; build with ``recsys build --encoder OUT/<version>``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from recsys.cli.render import err


def finetune(
    data: Annotated[Path, typer.Option("--data", help="Dataset folder in the canonical schema.")],
    out: Annotated[Path, typer.Option("--out", help="Models root; the run writes OUT/<version>/ and OUT/current.")]
    = Path("models/finetuned"),
    epochs: Annotated[int, typer.Option("--epochs", min=1)] = 1,
    batch_size: Annotated[int, typer.Option("--batch-size", min=2, help="Pairs per step (in-batch negatives).")]
    = 32,
    max_pairs: Annotated[int | None, typer.Option("--max-pairs", min=2, help="Seeded sample of the pairs.")]
    = None,
    base: Annotated[str, typer.Option("--base", help="all-MiniLM-L6-v2 or a fine-tuned model folder.")]
    = "all-MiniLM-L6-v2",
    split: Annotated[str | None, typer.Option(
        "--split", help="Train only on this evaluation split's train part (last-day | global-time | "
        "leave-one-out), so `recsys evaluate --split` on the same data never tests on seen events. "
        "Default: all events.")] = None,
    lr: Annotated[float, typer.Option("--lr", min=0.0)] = 2e-5,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    device: Annotated[str, typer.Option("--device", help="auto (CUDA when present), cpu or cuda.")] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Fine-tune the encoder on (recent history text → next product text) pairs with in-batch negatives."""
    from tqdm import tqdm

    from recsys.data.dataset import load_dataset
    from recsys.data.splits import SPLIT_SCHEMES
    from recsys.encoders.finetune import TrainOptions, finetune_dataset
    from recsys.errors import ConfigError

    if split is not None and split not in SPLIT_SCHEMES:
        raise ConfigError(f"--split {split!r} is not a split scheme; use one of {', '.join(SPLIT_SCHEMES)}")
    ds = load_dataset(data)
    options = TrainOptions(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, device=device)
    bar = None if quiet else tqdm(desc="fine-tuning", unit="step")

    def on_step(step: int, total: int, loss: float) -> None:
        if bar is not None:
            bar.total = total
            bar.update(1)
            bar.set_postfix_str(f"loss={loss:.3f}")

    try:
        folder, marker = finetune_dataset(ds, out, base=base, split=split, max_pairs=max_pairs,  # type: ignore[arg-type]
                                          options=options, on_step=on_step)
    finally:
        if bar is not None:
            bar.close()
    stats = marker["train"]["stats"]
    err.print(f"[green]wrote[/] {folder} ({stats['pairs']:,} pairs, {stats['steps']} steps on {stats['device']}, "
              f"loss {stats['loss_first']:.3f} → {stats['loss_last']:.3f}, {stats['seconds']:.0f} s); "
              f"{out}/current points to it. Use it with `recsys build --encoder {folder}`")
    print(json.dumps({"model": str(folder), **marker}))
