"""The offline build: dataset → encoded products and histories → FAISS index → signals → a new
immutable index version, then an atomic switch of `current`.

Validation runs first and nothing is written when it fails. Each stage reports progress on stderr.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data import schema as S
from recsys.artifacts import FILES, POSITION, WEIGHT
from recsys.config import BlendConfig
from recsys.data.dataset import Dataset
from recsys.encoders import Encoder
from recsys.index import Manifest, TunedIndex, TuneOptions, choose_index, measure_recall, point_current, tune_index
from recsys.index.autotune import tuning_fields
from recsys.build.incremental import Previous, ReusePlan, derive_index, encode_reusing, load_previous, plan_reuse
from recsys.index.manifest import DataInfo, EncoderInfo, IndexInfo, Lineage, file_sha256
from recsys.index.store import current_version, list_versions, new_version_name, staging
from recsys.features.profiles import ProfileParams, build_profiles, event_weights
from recsys.features.signals import SignalParams, compute_signals, cooccurrence
from recsys.text.builders import product_texts, text_hashes
from recsys.index.vectors import VectorTable

__all__ = ["BuildOptions", "BuildResult", "build_index", "encode_dataset", "EncodedData"]

Log = Callable[[str], None]


@dataclass(frozen=True)
class BuildOptions:
    config: BlendConfig = BlendConfig()
    signals: SignalParams = SignalParams()
    #: Events after this time are ignored (signals and profiles "as of" it); None = latest event.
    as_of: pd.Timestamp | None = None
    max_memory_bytes: int | None = None
    recall_queries: int = 500
    #: Recall@10 against exact search the auto-tuned index must reach (see recsys.index.autotune).
    target_recall: float = 0.95
    progress: bool = True
    seed: int = 0
    #: Reuse the current version's vectors for unchanged texts (when it used the same encoder weights).
    incremental: bool = True
    #: "ltr" also trains the learned ranker (recsys.ranking.ltr) on the build's events and saves it in the version.
    ranker: Literal["blend", "ltr"] = "blend"


@dataclass(frozen=True)
class BuildResult:
    path: Path
    manifest: Manifest
    timings: dict[str, float]


@dataclass(frozen=True)
class EncodedData:
    """Product and event-text vectors of a dataset, aligned with its rows."""

    item_vectors: np.ndarray
    item_hashes: list[str]
    text_keys: np.ndarray  # unique text hashes
    text_vectors: np.ndarray
    event_text_row: np.ndarray  # per event row: row in text_vectors, −1 when the event has no text
    texts_encoded: int
    encode_seconds: float
    #: Product and event-text vectors copied from the previous version instead of encoded.
    vectors_reused: int = 0


def encode_dataset(ds: Dataset, encoder: Encoder, *, progress: bool = False,
                   previous: Previous | None = None) -> EncodedData:
    t0 = time.perf_counter()
    ptexts = product_texts(ds.products)
    item_vecs, n_items, r_items = encode_reusing(ptexts, "passage", encoder, previous.items if previous else None,
                                                 progress=progress)
    etexts = ds.events[S.TEXT].fillna("").astype(str).str.strip()
    has = (etexts != "").to_numpy()
    uniq = list(dict.fromkeys(etexts[has].tolist()))
    text_vecs, n_texts, r_texts = encode_reusing(uniq, "query", encoder, previous.texts if previous else None,
                                                 progress=progress)
    row_of = {t: i for i, t in enumerate(uniq)}
    event_row = np.array([row_of[t] if h else -1 for t, h in zip(etexts.tolist(), has, strict=True)], np.int64)
    return EncodedData(
        item_vectors=item_vecs,
        item_hashes=text_hashes(ptexts),
        text_keys=np.asarray(text_hashes(uniq), dtype=object),
        text_vectors=text_vecs,
        event_text_row=event_row,
        texts_encoded=n_items + n_texts,
        encode_seconds=time.perf_counter() - t0,
        vectors_reused=r_items + r_texts,
    )


def _profile_params(config: BlendConfig) -> ProfileParams:
    return ProfileParams(**config.profile.model_dump())


def build_index(
    ds: Dataset, index_dir: str | Path, encoder: Encoder, options: BuildOptions = BuildOptions(),
    *, name: str | None = None, log: Log = lambda _m: None, encoded: EncodedData | None = None,
) -> BuildResult:
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    index_dir = Path(index_dir)
    events = ds.events
    as_of = options.as_of if options.as_of is not None else (
        events[S.TIMESTAMP].max() if len(events) else pd.Timestamp.now(tz="UTC"))
    if options.as_of is not None:
        events = events[events[S.TIMESTAMP] <= as_of].reset_index(drop=True)
        ds = Dataset(ds.products, events, ds.source)
    fingerprint = ds.fingerprint()
    previous = load_previous(index_dir, encoder) if options.incremental and encoded is None else None
    plan = _plan(ds, previous, encoder.dim, options) if previous is not None else None
    if plan is not None:
        ds = Dataset(ds.products.iloc[plan.order].reset_index(drop=True), events, ds.source)
        log(f"incremental build from {previous.manifest.version}: {plan.added} added, {plan.removed} removed, "
            f"{plan.changed} changed products; index strategy {plan.strategy}")

    log(f"encoding {len(ds.products):,} products and the event texts with {encoder.name} ({encoder.engine})")
    enc = encoded or encode_dataset(ds, encoder, progress=options.progress, previous=previous)
    timings["encode_s"] = enc.encode_seconds

    t = time.perf_counter()
    pos_of = {p: i for i, p in enumerate(ds.products[S.PRODUCT_ID])}
    item_pos = events[S.PRODUCT_ID].map(pos_of).fillna(-1).to_numpy(np.int64)
    has_text = enc.event_text_row >= 0
    text_per_event = np.zeros((len(events), encoder.dim), np.float32)
    text_per_event[has_text] = enc.text_vectors[enc.event_text_row[has_text]]
    pparams = _profile_params(options.config)
    profiles = build_profiles(events, item_pos, enc.item_vectors, text_per_event, has_text, as_of, pparams)
    signals = compute_signals(events, item_pos, len(ds.products), as_of, options.signals)
    inter = (item_pos >= 0) & events[S.EVENT_TYPE].map(options.signals.event_weights).fillna(0).gt(0).to_numpy()
    cooc = cooccurrence(events[S.USER_ID].to_numpy()[inter], item_pos[inter], len(ds.products),
                        options.signals.cooc_neighbours)
    timings["signals_profiles_s"] = time.perf_counter() - t

    t = time.perf_counter()
    rng = np.random.default_rng(options.seed)
    qpool = profiles.vectors[profiles.has_profile] if profiles.has_profile.any() else enc.item_vectors
    queries = qpool[rng.choice(len(qpool), size=min(options.recall_queries, len(qpool)), replace=False)]
    tuned: TunedIndex | None = None
    # A deduplicated parent holds unique vectors only, so its index cannot be appended to by position.
    if plan is not None and plan.strategy in ("append", "reuse_quantizer") and previous is not None \
            and previous.manifest.index.groups_file is None:
        spec = choose_index(len(ds.products), encoder.dim, max_memory_bytes=options.max_memory_bytes)
        log(f"deriving FAISS index {spec.factory} over {len(ds.products):,} vectors ({plan.strategy})")
        index = derive_index(plan, enc.item_vectors, spec, seed=options.seed, parent_index=previous.index_path,
                             parent_factory=previous.manifest.index.factory)
        recall = measure_recall(index, enc.item_vectors, queries, 10)
    else:
        log(f"auto-tuning the index over {len(ds.products):,} vectors for recall@10 ≥ {options.target_recall}")
        tuned = tune_index(enc.item_vectors, queries, TuneOptions(
            target_recall=options.target_recall, max_memory_bytes=options.max_memory_bytes,
            n_queries=max(1, options.recall_queries), seed=options.seed))
        index, spec, recall = tuned.index, tuned.spec, tuned.recall_at_10
        log(f"chose {spec.factory} {spec.search_params} over {tuned.n_unique:,} unique vectors: "
            f"recall@10 {recall:.3f}, {tuned.qps:,.0f} single-query QPS")
    timings["index_build_s"] = time.perf_counter() - t

    version = new_version_name()
    parent = current_version(index_dir) or (list_versions(index_dir) or [None])[-1]
    history = events.assign(**{POSITION: item_pos, WEIGHT: event_weights(events, as_of, pparams)})
    with staging(index_dir, version) as tmp:
        ds.products.to_parquet(tmp / FILES["products"], index=False)
        VectorTable(ds.products[S.PRODUCT_ID].to_numpy(dtype=object), enc.item_vectors,
                    np.asarray(enc.item_hashes, dtype=object), encoder.name, encoder.dim).save(tmp / FILES["item_vectors"])
        VectorTable(enc.text_keys, enc.text_vectors, enc.text_keys, encoder.name, encoder.dim).save(tmp / FILES["text_vectors"])
        keep = profiles.has_profile
        VectorTable(profiles.user_ids[keep], profiles.vectors[keep], np.full(keep.sum(), "", dtype=object),
                    encoder.name, encoder.dim).save(tmp / FILES["user_vectors"])
        history.to_parquet(tmp / FILES["history"], index=False)
        signals.frame(ds.products[S.PRODUCT_ID].to_numpy()).to_parquet(tmp / FILES["signals"], index=False)
        sp.save_npz(tmp / FILES["cooc"], cooc)
        index.save(tmp / FILES["index"])
        (tmp / FILES["config"]).write_text(options.config.model_dump_json(indent=2), encoding="utf-8")
        if options.ranker == "ltr":
            from recsys.ranking.ltr.train import train_for_index

            train_for_index(tmp, ds.products, events, enc.item_vectors, options.signals, log)
        files = {p.name: file_sha256(p) for p in sorted(tmp.iterdir())}
        manifest = Manifest(
            name=name or index_dir.resolve().name,
            version=version,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            build_seconds=round(time.perf_counter() - t_start, 3),
            encoder=EncoderInfo(**encoder.describe()),
            index=IndexInfo(factory=spec.factory, count=len(index), search_params=spec.search_params,
                            recall_at_10=round(recall, 4), recall_queries=len(queries),
                            build_seconds=round(timings["index_build_s"], 3),
                            **(tuning_fields(tuned, options.target_recall, tmp / FILES["index"]) if tuned else {})),
            data=DataInfo(source=ds.source, fingerprint=fingerprint, n_products=len(ds.products),
                          n_events=len(events), n_users=int(events[S.USER_ID].nunique()),
                          n_users_with_profile=int(profiles.has_profile.sum()), as_of=str(as_of)),
            blend_config_id=options.config.id,
            encode_texts_per_s=round(enc.texts_encoded / max(enc.encode_seconds, 1e-9), 2),
            files=files,
            checksum=Manifest.checksum_of(files),
            parent=parent,
            lineage=Lineage(strategy=plan.strategy if plan else "full", reused_vectors=enc.vectors_reused,
                            encoded=enc.texts_encoded, added=plan.added if plan else len(ds.products),
                            removed=plan.removed if plan else 0, changed=plan.changed if plan else 0),
        )
        manifest.save(tmp)
    point_current(index_dir, version)
    timings["total_s"] = time.perf_counter() - t_start
    log(f"index version {version} ready in {timings['total_s']:.1f}s (recall@10 vs exact {recall:.3f})")
    return BuildResult(index_dir / version, manifest, timings)


def _plan(ds: Dataset, previous: Previous, dim: int, options: BuildOptions) -> ReusePlan:
    new_factory = choose_index(len(ds.products), dim, max_memory_bytes=options.max_memory_bytes).factory
    return plan_reuse(previous.items.keys.tolist(), previous.items.hashes.tolist(),
                      ds.products[S.PRODUCT_ID].tolist(), text_hashes(product_texts(ds.products)),
                      previous.manifest.index.factory, new_factory)


def dump_timings(result: BuildResult) -> str:
    return json.dumps({k: round(v, 3) for k, v in result.timings.items()})
