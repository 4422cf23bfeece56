"""The offline build as stages: plan → encode → features → index → ranker → write version.

Each stage is a function with explicit inputs and outputs; `build_index` runs them in order and the
manifest is written once, at the end, inside a staging folder that becomes a new immutable version and
is then pointed to by `current` atomically. Validation runs before (in `recsys.data`) and nothing is
written when it fails. Each stage reports progress through `log`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from recsys.artifacts import FILES, OPTIONAL_FILES, POSITION, WEIGHT
from recsys.build.encode import EncodedData, encode_dataset
from recsys.build.incremental import Previous, ReusePlan, derive_index, load_previous, plan_reuse
from recsys.build.select import select_ranker
from recsys.config import BlendConfig
from recsys.data import schema as S
from recsys.data.dataset import Dataset
from recsys.encoders import Encoder
from recsys.features.compute import FeatureParams, FeatureSet, compute_features, text_rows
from recsys.features.profiles import ProfileParams, UserProfiles
from recsys.features.signals import SignalParams
from recsys.index import (
    Manifest,
    TunedIndex,
    TuneOptions,
    VectorIndex,
    choose_index,
    measure_recall,
    point_current,
    tune_index,
)
from recsys.index.autotune import tuning_fields
from recsys.index.faiss_index import build_threads, search_threads
from recsys.index.hits import UserHits, hit_depths
from recsys.index.manifest import DataInfo, EncoderInfo, IndexInfo, Lineage, RankerInfo, file_digest
from recsys.index.store import current_version, list_versions, new_version_name, staging
from recsys.index.vectors import VectorTable
from recsys.text.builders import product_texts, text_hashes

if TYPE_CHECKING:
    from recsys.ranking.ltr.model import LearnedModel

__all__ = ["BuildOptions", "BuildResult", "build_index", "encode_dataset", "EncodedData", "feature_params"]

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
    #: "auto" measures the blend, the tuned blend and the learned ranker on the last step of the build's
    #: events and serves the winner (`recsys.build.select`); "blend" / "ltr" skip the choice.
    ranker: Literal["auto", "blend", "ltr"] = "auto"


@dataclass(frozen=True)
class BuildResult:
    path: Path
    manifest: Manifest
    timings: dict[str, float]


@dataclass(frozen=True)
class BuildPlan:
    """What the build works on: the dataset cut at `as_of`, in the order the version will store it."""

    ds: Dataset
    as_of: pd.Timestamp
    fingerprint: str
    previous: Previous | None
    reuse: ReusePlan | None


@dataclass(frozen=True)
class IndexStage:
    index: VectorIndex
    factory: str
    search_params: dict[str, int]
    recall: float
    n_queries: int
    seconds: float
    tuned: TunedIndex | None


def feature_params(options: BuildOptions) -> FeatureParams:
    return FeatureParams(signals=options.signals, profile=ProfileParams(**options.config.profile.model_dump()),
                         seed=options.seed)


# -- stages ---------------------------------------------------------------------------------------
def plan_build(ds: Dataset, index_dir: Path, encoder: Encoder, options: BuildOptions, *,
               reuse_vectors: bool, log: Log) -> BuildPlan:
    events = ds.events
    as_of = options.as_of if options.as_of is not None else (
        events[S.TIMESTAMP].max() if len(events) else pd.Timestamp.now(tz="UTC"))
    if options.as_of is not None:
        ds = Dataset(ds.products, events[events[S.TIMESTAMP] <= as_of].reset_index(drop=True), ds.source)
    fingerprint = ds.fingerprint()
    previous = load_previous(index_dir, encoder) if options.incremental and reuse_vectors else None
    reuse = None
    if previous is not None:
        new_factory = choose_index(len(ds.products), encoder.dim, max_memory_bytes=options.max_memory_bytes).factory
        reuse = plan_reuse(previous.items.keys.tolist(), previous.items.hashes.tolist(),
                           ds.products[S.PRODUCT_ID].tolist(), text_hashes(product_texts(ds.products)),
                           previous.manifest.index.factory, new_factory)
        ds = Dataset(ds.products.iloc[reuse.order].reset_index(drop=True), ds.events, ds.source)
        log(f"incremental build from {previous.manifest.version}: {reuse.added} added, {reuse.removed} removed, "
            f"{reuse.changed} changed products; index strategy {reuse.strategy}")
    return BuildPlan(ds, as_of, fingerprint, previous, reuse)


def features_stage(plan: BuildPlan, enc: EncodedData, options: BuildOptions) -> FeatureSet:
    text_vecs, has_text = text_rows(plan.ds.events, enc.text_vectors, enc.event_text_row)
    return compute_features(plan.ds.products, plan.ds.events, enc.item_vectors, text_vecs, has_text,
                            plan.as_of, feature_params(options))


def index_stage(plan: BuildPlan, enc: EncodedData, feats: FeatureSet, options: BuildOptions, log: Log) -> IndexStage:
    t = time.perf_counter()
    n, dim = len(plan.ds.products), enc.item_vectors.shape[1]
    rng = np.random.default_rng(options.seed)
    prof = feats.profiles
    qpool = prof.vectors[prof.has_profile] if prof.has_profile.any() else enc.item_vectors
    queries = qpool[rng.choice(len(qpool), size=min(options.recall_queries, len(qpool)), replace=False)]
    prev, reuse = plan.previous, plan.reuse
    # A deduplicated parent holds unique vectors only, so its index cannot be appended to by position.
    if reuse is not None and prev is not None and reuse.strategy in ("append", "reuse_quantizer") \
            and prev.manifest.index.groups_file is None:
        spec = choose_index(n, dim, max_memory_bytes=options.max_memory_bytes)
        log(f"deriving FAISS index {spec.factory} over {n:,} vectors ({reuse.strategy})")
        index = derive_index(reuse, enc.item_vectors, spec, seed=options.seed, parent_index=prev.index_path,
                             parent_factory=prev.manifest.index.factory)
        recall = measure_recall(index, enc.item_vectors, queries, 10)
        return IndexStage(index, spec.factory, spec.search_params, recall, len(queries),
                          time.perf_counter() - t, None)
    log(f"auto-tuning the index over {n:,} vectors for recall@10 ≥ {options.target_recall}")
    tuned = tune_index(enc.item_vectors, queries, TuneOptions(
        target_recall=options.target_recall, max_memory_bytes=options.max_memory_bytes,
        n_queries=max(1, options.recall_queries), seed=options.seed))
    log(f"chose {tuned.spec.factory} {tuned.spec.search_params} over {tuned.n_unique:,} unique vectors: "
        f"recall@10 {tuned.recall_at_10:.3f}, {tuned.qps:,.0f} single-query QPS")
    if tuned.item_search_params:
        log(f"item-to-item queries (similar items): {tuned.item_search_params}, recall@10 "
            f"{tuned.item_recall_at_10:.3f}")
    return IndexStage(tuned.index, tuned.spec.factory, tuned.spec.search_params, tuned.recall_at_10, len(queries),
                      time.perf_counter() - t, tuned)


@dataclass(frozen=True)
class RankerStage:
    model: LearnedModel | None
    config: BlendConfig  # the blend config the version serves (tuned when the choice tuned it)
    info: RankerInfo


def ranker_stage(plan: BuildPlan, enc: EncodedData, options: BuildOptions, log: Log) -> RankerStage:
    config = options.config
    kind: str = options.ranker  # str, not the option's Literal: "auto" becomes the kind select_ranker chose
    info = RankerInfo(kind=kind, chosen_by="requested")
    if kind == "auto":
        text_vecs, has_text = text_rows(plan.ds.events, enc.text_vectors, enc.event_text_row)
        chosen = select_ranker(plan.ds.products, plan.ds.events, enc.item_vectors, text_vecs, has_text, config,
                               feature_params(options), log=log)
        config, kind, info = chosen.config, chosen.kind, chosen.info
    if kind == "blend":
        return RankerStage(None, config, info)
    from recsys.ranking.ltr.train import TrainParams, fit_ranker

    model = fit_ranker(plan.ds.products, plan.ds.events, enc.item_vectors, TrainParams(), options.signals, log)
    return RankerStage(model, config, info)


def _user_hits(idx: IndexStage, prof: UserProfiles, history: pd.DataFrame, config: BlendConfig, n_items: int,
               log: Log) -> UserHits:
    """Every profiled user's nearest items from the index just built (`recsys.index.hits`), deep enough
    for their default request (the blend's candidates, their own history, `MAX_K` results)."""
    t = time.perf_counter()
    keep = prof.has_profile
    seen = history[history[POSITION] >= 0]
    sizes = seen.groupby(S.USER_ID, sort=False)[POSITION].nunique()
    users = pd.Index(prof.user_ids[keep])
    depths = hit_depths(config.candidates, sizes.reindex(users, fill_value=0).to_numpy(np.int64), n_items)
    with search_threads(build_threads()):
        hits = UserHits.search(idx.index, prof.vectors[keep], depths)
    log(f"searched the nearest items of {len(users):,} users once ({int(depths.sum()):,} rows) in "
        f"{time.perf_counter() - t:.1f}s")
    return hits


def write_version(index_dir: Path, plan: BuildPlan, enc: EncodedData, feats: FeatureSet, idx: IndexStage,
                  ranker: RankerStage, encoder: Encoder, options: BuildOptions, *,
                  name: str | None, started: float, log: Log = lambda _m: None) -> tuple[str, Manifest]:
    ds, prof = plan.ds, feats.profiles
    version = new_version_name()
    parent = current_version(index_dir)
    if not parent:
        versions = list_versions(index_dir)
        parent = versions[-1] if versions else None
    history = ds.events.assign(**{POSITION: feats.events.item_pos, WEIGHT: feats.weights})
    ids = ds.products[S.PRODUCT_ID].to_numpy(dtype=object)
    with staging(index_dir, version) as tmp:
        ds.products.to_parquet(tmp / FILES["products"], index=False)
        VectorTable(ids, enc.item_vectors, np.asarray(enc.item_hashes, dtype=object), encoder.name,
                    encoder.dim).save(tmp / FILES["item_vectors"], matrix=tmp / OPTIONAL_FILES["item_matrix"])
        VectorTable(enc.text_keys, enc.text_vectors, enc.text_keys, encoder.name, encoder.dim).save(
            tmp / FILES["text_vectors"])
        keep = prof.has_profile
        VectorTable(prof.user_ids[keep], prof.vectors[keep], np.full(keep.sum(), "", dtype=object),
                    encoder.name, encoder.dim).save(tmp / FILES["user_vectors"])
        history.to_parquet(tmp / FILES["history"], index=False)
        feats.items.save(tmp, ids)
        idx.index.save(tmp / FILES["index"])
        (tmp / FILES["config"]).write_text(ranker.config.model_dump_json(indent=2), encoding="utf-8")
        if ranker.model is not None:
            ranker.model.save(tmp)
        else:
            _user_hits(idx, prof, history, ranker.config, len(ids), log).save(tmp)
        files = {p.name: file_digest(p) for p in sorted(tmp.iterdir())}
        reuse = plan.reuse
        manifest = Manifest(
            name=name or index_dir.resolve().name,
            version=version,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            build_seconds=round(time.perf_counter() - started, 3),
            encoder=EncoderInfo(**encoder.describe()),
            index=IndexInfo(factory=idx.factory, count=len(idx.index), search_params=idx.search_params,
                            recall_at_10=round(idx.recall, 4), recall_queries=idx.n_queries,
                            build_seconds=round(idx.seconds, 3), bytes=(tmp / FILES["index"]).stat().st_size,
                            build_threads=build_threads(),
                            **(tuning_fields(idx.tuned, options.target_recall, tmp / FILES["index"])
                               if idx.tuned else {})),
            data=DataInfo(source=ds.source, fingerprint=plan.fingerprint, n_products=len(ds.products),
                          n_events=len(ds.events), n_users=int(ds.events[S.USER_ID].nunique()),
                          n_users_with_profile=int(prof.has_profile.sum()), as_of=str(plan.as_of)),
            blend_config_id=ranker.config.id,
            encode_texts_per_s=round(enc.texts_encoded / max(enc.encode_seconds, 1e-9), 2),
            files=files,
            checksum=Manifest.checksum_of(files),
            parent=parent,
            lineage=Lineage(strategy=reuse.strategy if reuse else "full", reused_vectors=enc.vectors_reused,
                            encoded=enc.texts_encoded, added=reuse.added if reuse else len(ds.products),
                            removed=reuse.removed if reuse else 0, changed=reuse.changed if reuse else 0),
            ranker=ranker.info,
            tiebreak_seed=options.seed,
        )
        manifest.save(tmp)
    point_current(index_dir, version)
    return version, manifest


def build_index(
    ds: Dataset, index_dir: str | Path, encoder: Encoder, options: BuildOptions = BuildOptions(),
    *, name: str | None = None, log: Log = lambda _m: None, encoded: EncodedData | None = None,
) -> BuildResult:
    """Run every stage; `encoded` (vectors of `ds` computed earlier) skips the encode stage."""
    started = time.perf_counter()
    index_dir = Path(index_dir)
    timings: dict[str, float] = {}
    plan = plan_build(ds, index_dir, encoder, options, reuse_vectors=encoded is None, log=log)
    log(f"encoding {len(plan.ds.products):,} products and the event texts with {encoder.name} ({encoder.engine})")
    enc = encoded or encode_dataset(plan.ds, encoder, progress=options.progress, previous=plan.previous)
    timings["encode_s"] = enc.encode_seconds
    t = time.perf_counter()
    feats = features_stage(plan, enc, options)
    timings["features_s"] = time.perf_counter() - t
    idx = index_stage(plan, enc, feats, options, log)
    timings["index_build_s"] = idx.seconds
    t = time.perf_counter()
    ranker = ranker_stage(plan, enc, options, log)
    timings["ranker_s"] = time.perf_counter() - t
    version, manifest = write_version(index_dir, plan, enc, feats, idx, ranker, encoder, options,
                                      name=name, started=started, log=log)
    timings["total_s"] = time.perf_counter() - started
    log(f"index version {version} ready in {timings['total_s']:.1f}s (recall@10 vs exact {idx.recall:.3f})")
    return BuildResult(index_dir / version, manifest, timings)
