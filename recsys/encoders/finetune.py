"""Contrastive fine-tuning of the bundled encoder on (history text → next product text) pairs.

Pairs are built in time order from one event frame (pass the *train* part of an evaluation split, so the
encoder never sees a test event): the anchor is the text of the user's recent history (titles of the
last few products, then the last few review/search texts, most recent first) and the positive is the
passage text of the next product the user interacted with. Training uses sentence-transformers'
``MultipleNegativesRankingLoss`` (in-batch negatives) in a plain torch loop: the library's
``SentenceTransformerTrainer`` and ``fit`` need the ``datasets`` (and ``accelerate``) packages, which
recsys does not depend on. Batches never hold the same product twice, so no positive is also another
anchor's "negative".

``training_pairs`` and ``no_duplicate_batches`` are pure; ``train_contrastive`` and ``write_model_folder``
are the I/O edge (model loading, training, saving).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recsys.data import schema as S
from recsys.data.dataset import Dataset
from recsys.data.splits import SplitScheme, split_events
from recsys.encoders.models import FINETUNED_MARKER, model_spec
from recsys.errors import ConfigError, EncoderError
from recsys.text.builders import clean_text, product_texts

__all__ = [
    "MARKER_FILE",
    "PairOptions",
    "TrainOptions",
    "TrainStats",
    "training_pairs",
    "sample_pairs",
    "no_duplicate_batches",
    "BaseModel",
    "resolve_base",
    "train_contrastive",
    "write_model_folder",
    "train_record",
    "finetune_dataset",
]

#: The file that makes a sentence-transformers folder loadable by `make_encoder(<folder>)`.
MARKER_FILE = FINETUNED_MARKER
ANCHOR, POSITIVE = "anchor", "positive"


@dataclass(frozen=True)
class PairOptions:
    history_items: int = 3  # titles of the last N products before the target
    history_texts: int = 2  # review/search texts of the last N events that have one
    max_text_chars: int = 200  # each review text is capped (the anchor is truncated at 128 tokens anyway)
    min_rating: float = 3.0  # an event rated below this is neither a positive nor part of an anchor

    def __post_init__(self) -> None:
        if self.history_items < 0 or self.history_texts < 0 or self.history_items + self.history_texts == 0:
            raise ConfigError("history_items and history_texts must be >= 0 and not both 0")


@dataclass(frozen=True)
class TrainOptions:
    epochs: int = 1
    batch_size: int = 32
    lr: float = 2e-5
    warmup_ratio: float = 0.1
    max_seq_length: int | None = None  # token cap; None: the base encoder's (128 for all-MiniLM-L6-v2)
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2 or not self.lr > 0:
            raise ConfigError(
                f"need epochs >= 1, batch_size >= 2 (in-batch negatives) and lr > 0; got epochs={self.epochs}, "
                f"batch_size={self.batch_size}, lr={self.lr}"
            )


@dataclass(frozen=True)
class TrainStats:
    pairs: int
    steps: int
    loss_first: float  # mean loss over the first 10% of steps
    loss_last: float  # mean loss over the last 10% of steps
    seconds: float
    device: str


def _join(parts: list[str]) -> str:
    return ". ".join(p.rstrip(". ") for p in parts if p)


def _push(recent: dict[str, None], item: str) -> None:
    if item:
        recent.pop(item, None)
        recent[item] = None


def training_pairs(products: pd.DataFrame, events: pd.DataFrame, options: PairOptions = PairOptions()) -> pd.DataFrame:
    """One row per (history → next product) step: columns user_id, product_id, timestamp, anchor, positive.

    Events are read per user in (timestamp, given order); a target needs some earlier history, a rating
    of at least ``min_rating`` (or none) and must not be in the user's history already (evaluation
    excludes seen items, so repeats teach nothing useful). Products missing from the catalogue are skipped.
    """
    passage = dict(zip(products[S.PRODUCT_ID], product_texts(products), strict=True))
    title = {p: clean_text(t) for p, t in zip(products[S.PRODUCT_ID], products[S.TITLE], strict=True)}
    ev = events.sort_values([S.USER_ID, S.TIMESTAMP], kind="stable")
    rows: list[tuple[str, str, pd.Timestamp, str, str]] = []
    user_prev: object = None
    # Ordered sets, most recent last: a repeat moves to the end, so the anchor holds distinct items even
    # when a user repeats a purchase or the data copies one review onto every variant of a listing.
    titles: dict[str, None] = {}
    texts: dict[str, None] = {}
    seen: set[str] = set()
    for user, pid, ts, rating, text in zip(
        ev[S.USER_ID], ev[S.PRODUCT_ID], ev[S.TIMESTAMP], ev[S.RATING], ev[S.TEXT], strict=True
    ):
        if user != user_prev:
            user_prev, titles, texts, seen = user, {}, {}, set()
        if rating == rating and rating is not None and rating < options.min_rating:
            continue  # negative evidence: neither a target nor history the next item should resemble
        has_product = isinstance(pid, str) and pid in passage
        if has_product and pid not in seen:
            recent = [*islice(reversed(titles), options.history_items), *islice(reversed(texts), options.history_texts)]
            anchor = _join(recent)
            if anchor:
                rows.append((user, pid, ts, anchor, passage[pid]))
        if has_product:
            seen.add(pid)
            _push(titles, title[pid])
        _push(texts, clean_text(text)[: options.max_text_chars])
    return pd.DataFrame(rows, columns=[S.USER_ID, S.PRODUCT_ID, S.TIMESTAMP, ANCHOR, POSITIVE])


def sample_pairs(pairs: pd.DataFrame, max_pairs: int | None, seed: int = 0) -> pd.DataFrame:
    """A seeded uniform sample of at most ``max_pairs`` rows, in their original order."""
    if max_pairs is None or len(pairs) <= max_pairs:
        return pairs
    if max_pairs < 1:
        raise ConfigError(f"max_pairs must be >= 1, got {max_pairs}")
    keep = np.sort(np.random.default_rng(seed).choice(len(pairs), size=max_pairs, replace=False))
    return pairs.iloc[keep].reset_index(drop=True)


def no_duplicate_batches(keys: np.ndarray | list[str], batch_size: int, seed: int = 0) -> list[np.ndarray]:
    """Shuffle row indices into batches in which no key (positive product id) appears twice.

    A row whose key is already in the batch waits for the next batch. Batches of one row are dropped:
    with in-batch negatives they carry no signal.
    """
    if batch_size < 2:
        raise ConfigError(f"batch_size must be >= 2 for in-batch negatives, got {batch_size}")
    keys = np.asarray(keys, dtype=object)
    pending = deque(np.random.default_rng(seed).permutation(len(keys)).tolist())
    batches: list[np.ndarray] = []
    while pending:
        batch: list[int] = []
        taken: set[object] = set()
        waiting: list[int] = []
        while pending and len(batch) < batch_size:
            i = pending.popleft()
            (waiting if keys[i] in taken else batch).append(i)
            taken.add(keys[i])
        pending.extendleft(reversed(waiting))
        if len(batch) >= 2:
            batches.append(np.asarray(batch, dtype=np.int64))
    return batches


@dataclass(frozen=True)
class BaseModel:
    """Where training starts: a sentence-transformers folder, its root encoder name and its prompts."""

    folder: Path
    name: str  # the built-in encoder the folder descends from; written as the marker's "base"
    query_prefix: str = ""
    passage_prefix: str = ""
    max_seq_length: int | None = None


def resolve_base(base: str) -> BaseModel:
    """A built-in encoder name, a folder written by `recsys finetune`, or any sentence-transformers folder.

    A plain folder (no marker) trains without prompts and is recorded under its own path as "base".
    """
    folder = Path(base)
    marker = folder / MARKER_FILE
    if folder.is_dir() and not marker.is_file():
        if not (folder / "modules.json").is_file():
            raise EncoderError(
                f"cannot fine-tune from {base!r}: not a sentence-transformers folder (no modules.json); pass "
                "a built-in encoder name or a folder written by `recsys finetune`"
            )
        return BaseModel(folder, base)
    spec = model_spec(base)
    root = json.loads(marker.read_text(encoding="utf-8"))["base"] if marker.is_file() else spec.name
    return BaseModel(spec.folder(True), root, spec.query_prefix, spec.passage_prefix, spec.max_seq_length)


def train_contrastive(
    model_path: Path,
    anchors: list[str],
    positives: list[str],
    keys: np.ndarray,
    options: TrainOptions = TrainOptions(),
    on_step: Callable[[int, int, float], None] | None = None,
) -> tuple[Any, TrainStats]:
    """Fine-tune the model at ``model_path`` with MultipleNegativesRankingLoss; return (model, stats)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.util import batch_to_device
    from transformers import get_linear_schedule_with_warmup

    from recsys.encoders.sentence import pick_device

    if len(anchors) != len(positives) or len(anchors) != len(keys):
        raise ConfigError(
            f"anchors, positives and keys differ in length: {len(anchors)}, {len(positives)}, {len(keys)}"
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    device = pick_device(options.device)
    torch.manual_seed(options.seed)
    model = SentenceTransformer(str(model_path), device=device, local_files_only=True)
    if options.max_seq_length is not None:
        model.max_seq_length = options.max_seq_length
    loss_fn = MultipleNegativesRankingLoss(model)
    epochs = [no_duplicate_batches(keys, options.batch_size, seed=options.seed + e) for e in range(options.epochs)]
    total = sum(len(b) for b in epochs)
    if total == 0:
        raise ConfigError(f"{len(anchors)} training pair(s) make no batch of two distinct products; need more data")
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.lr, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(total * options.warmup_ratio), total)
    use_bf16 = device.startswith("cuda") and torch.cuda.is_bf16_supported()
    losses: list[float] = []
    start = time.perf_counter()
    model.train()
    for batches in epochs:
        for batch in batches:
            features = [batch_to_device(model.preprocess([texts[i] for i in batch]), torch.device(device))
                        for texts in (anchors, positives)]
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_bf16):
                loss = loss_fn(features, None)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            if on_step is not None:
                on_step(len(losses), total, losses[-1])
    model.eval()
    tenth = max(1, len(losses) // 10)
    stats = TrainStats(pairs=len(anchors), steps=len(losses), loss_first=float(np.mean(losses[:tenth])),
                       loss_last=float(np.mean(losses[-tenth:])), seconds=time.perf_counter() - start,
                       device=device + ("-bf16" if use_bf16 else ""))
    return model, stats


def _version_name(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%S") + f"-{uuid.uuid4().hex[:6]}"


def write_model_folder(model: Any, out: Path, base: str, data_fingerprint: str, train: dict[str, Any]) -> Path:
    """Save ``model`` as ``out/<version>/`` (via a temp folder and rename) and point ``out/current`` at it."""
    now = datetime.now(UTC)
    version = _version_name(now)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".tmp-{version}"
    try:
        model.save(str(tmp))
        marker = {"base": base, "version": version, "created_at": now.isoformat(timespec="seconds"),
                  "data_fingerprint": data_fingerprint, "train": train}
        (tmp / MARKER_FILE).write_text(json.dumps(marker, indent=2, default=str), encoding="utf-8")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    os.rename(tmp, out / version)
    link = out / f".current-{uuid.uuid4().hex[:8]}"
    os.symlink(version, link)
    os.replace(link, out / "current")
    return out / version


def train_record(pair_options: PairOptions, options: TrainOptions, stats: TrainStats, **extra: Any) -> dict[str, Any]:
    """The ``train`` section of the marker: every option and measured fact of one run."""
    return {**extra, "pairs": asdict(pair_options), "options": asdict(options), "stats": asdict(stats)}


def finetune_dataset(
    dataset: Dataset,
    out: Path,
    *,
    base: str = "all-MiniLM-L6-v2",
    split: SplitScheme | None = None,
    max_pairs: int | None = None,
    pair_options: PairOptions = PairOptions(),
    options: TrainOptions = TrainOptions(),
    on_step: Callable[[int, int, float], None] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Fine-tune on ``dataset`` (only the train part of ``split`` when given); return (folder, marker)."""
    events = dataset.events if split is None else split_events(dataset.events, split).train
    pairs = sample_pairs(training_pairs(dataset.products, events, pair_options), max_pairs, seed=options.seed)
    if len(pairs) < 2:
        raise ConfigError(
            f"{dataset.source}: only {len(pairs)} (history → next product) pair(s) in "
            f"{'all events' if split is None else f'the {split} train split'}; fine-tuning needs users with "
            "at least two interactions in time order"
        )
    start = resolve_base(base)
    # anchors are user-side texts (encoded as queries at serving time), positives are product passages
    anchors = [start.query_prefix + a for a in pairs[ANCHOR]]
    positives = [start.passage_prefix + p for p in pairs[POSITIVE]]
    if options.max_seq_length is None:
        options = replace(options, max_seq_length=start.max_seq_length)
    model, stats = train_contrastive(start.folder, anchors, positives, pairs[S.PRODUCT_ID].to_numpy(dtype=object),
                                     options, on_step)
    record = train_record(pair_options, options, stats, parent=str(base), split=split or "all-events",
                          max_pairs=max_pairs, events=len(events), source=dataset.source)
    folder = write_model_folder(model, out, start.name, dataset.fingerprint(), record)
    return folder, json.loads((folder / MARKER_FILE).read_text(encoding="utf-8"))
