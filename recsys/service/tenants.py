"""Tenants and what each serves: one loaded index version (`Served`) per tenant, swapped atomically.

Index layouts (`--index`):
- one index (a root with `current`, or a version folder): a single tenant, named by the keys file
  (which must then name exactly one tenant) or `default` when running open;
- a folder of index roots, `INDEX/<tenant>/current → <version>`: one index per tenant in the keys file.

Hot swap: a request takes `tenant.served` once and uses that object to the end, so in-flight requests
finish on the old index while `reload` loads, verifies and smoke-tests the new one, then replaces the
reference in one assignment. A broken or mismatched new index raises `ReloadRefusedError` and the old
one keeps serving.

Each version's live counters and ad ledger start from the store as of one seq watermark (`last_seq` when
it is loaded: events received after the build, and every ad event, up to that seq) and follow the store
from there through the version's `EventFeed`, so no event is counted twice in a version, nor missed,
whichever process stored it and however reloads interleave with ingestion.
"""

from __future__ import annotations

import contextlib
import ctypes
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from recsys.ads.matcher import AdMatcher
from recsys.artifacts import Artifacts, load_artifacts
from recsys.config import BlendConfig
from recsys.encoders import Encoder, make_encoder, query_engine
from recsys.encoders.batching import MicroBatchEncoder
from recsys.encoders.cached import QUERIES, CachedEncoder
from recsys.errors import ArtifactError, ConfigError, RecsysError
from recsys.explain.portraits import CatalogueTerms, version_terms
from recsys.features.live import LiveSignals
from recsys.index import resolve_version
from recsys.index.manifest import MANIFEST_FILE
from recsys.index.memo import MemoSearch
from recsys.index.store import CURRENT
from recsys.online.cache import AnswerCache, SeqCache, StateCache
from recsys.online.profiles import TextVectors
from recsys.recommender import Recommender
from recsys.service.ads import AdsSource
from recsys.service.feed import EventFeed
from recsys.store import EventStore
from recsys.store.base import SEQ

__all__ = ["Served", "Tenant", "ReloadRefusedError", "discover_tenants", "load_served", "DEFAULT_TENANT"]

DEFAULT_TENANT = "default"
_MAX_CONFIGS = 64
#: Portraits kept per version and process (a few KB each).
PORTRAITS = 10_000


class ReloadRefusedError(ArtifactError):
    """The new index cannot be served; the old one keeps serving."""

    http_status = 409


@dataclass
class Served:
    art: Artifacts
    encoder: Encoder
    live: LiveSignals
    texts: TextVectors
    #: Applies stored events past its watermark to `live` and the ads' ledger; shared by the `Served`
    #: objects of one version (a campaigns reload replaces the matcher, not the counters).
    feed: EventFeed
    ads: AdMatcher | None = None
    #: Online profiles of users with ingested events, reused until their next event (`recsys.online.cache`).
    states: StateCache = field(default_factory=StateCache)
    #: Users' organic answers per exact request, reused until their next event or the TTL (same module).
    answers: AnswerCache = field(default_factory=lambda: AnswerCache(0))
    #: Users' portraits (`GET /v1/users/{id}/profile`), kept while the answer cache is on, with its TTL.
    portraits: SeqCache[tuple[str, str, int], Any] = field(default_factory=lambda: SeqCache(0))
    #: The version's index for free-text queries, remembering the searches of repeated texts (None: the index).
    text_index: MemoSearch | None = None
    _terms: CatalogueTerms | None = None
    _recs: OrderedDict[str, Recommender] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def version(self) -> str:
        return self.art.version

    @property
    def terms(self) -> CatalogueTerms:
        """The catalogue's portrait terms, tokenized on first use and shared by every config's recommender."""
        with self._lock:
            if self._terms is None:
                self._terms = version_terms(self.art)
            return self._terms

    def recommender(self, config: BlendConfig) -> Recommender:
        """One `Recommender` per config id (building a ranker sorts the catalogue once)."""
        with self._lock:
            rec = self._recs.get(config.id)
            if rec is not None:
                self._recs.move_to_end(config.id)
                return rec
        rec = Recommender(self.art, config=config, encoder=self.encoder, live=self.live, terms=self.terms,
                          text_index=self.text_index)
        with self._lock:
            self._recs[config.id] = rec
            while len(self._recs) > _MAX_CONFIGS:
                self._recs.popitem(last=False)
        return rec


def load_served(root: Path, tenant: str, store: EventStore, *, expect: Served | None = None,
                ads: AdsSource | None = None, sync_interval: float = 1.0, micro_batch_ms: float = 0.0,
                query_cache_texts: int = 0, answer_cache: AnswerCache | None = None) -> Served:
    """Load (which verifies every file against the manifest), check and warm one index version; replay
    events committed after it was built, up to the store's last seq, where its feed starts.

    Index files are memory-mapped read-only where the index type allows it, so the workers of one machine
    share one copy of their pages through the page cache. `answer_cache` is the version's (empty) answer
    cache, none by default; a reload (`expect`) starts one with the limits of the version it replaces."""
    art = load_artifacts(root, mmap=True)
    if expect is not None:
        old, new = expect.art.manifest.encoder, art.manifest.encoder
        if (old.name, old.dim) != (new.name, new.dim):
            raise ReloadRefusedError(
                f"index {art.root} was built with encoder {new.name!r} ({new.dim}-d) but this server serves "
                f"{old.name!r} ({old.dim}-d); rebuild with --encoder {old.name} or restart the server")
    if len(art.index):
        _, ids = art.index.search(art.item_vectors[:1], 1)
        if int(ids[0][0]) < 0:
            raise ArtifactError(f"index {art.root} answered no neighbour for its own first vector; rebuild it")
    encoder = expect.encoder if expect is not None else make_encoder(
        art.manifest.encoder.name, engine=query_engine(art.manifest.encoder.engine))
    if expect is None and micro_batch_ms > 0:
        encoder = MicroBatchEncoder(encoder, max_wait_s=micro_batch_ms / 1000)
    if expect is None and query_cache_texts > 0:
        encoder = CachedEncoder(encoder, capacity=query_cache_texts, kinds=QUERIES)
    if encoder.dim != art.manifest.encoder.dim:
        raise ArtifactError(f"encoder {encoder.name} gives {encoder.dim}-d vectors, index holds "
                            f"{art.manifest.encoder.dim}-d; rebuild the index")
    # Everything up to `watermark` is replayed here, everything after it by the feed: read it first, so an
    # event stored meanwhile is left to the feed instead of being replayed and then fed again.
    watermark = store.last_seq(tenant)
    matcher = ads.matcher(art, encoder, store, tenant, through_seq=watermark) if ads is not None else None
    live = LiveSignals(art.features.signals, art.items, art.features.tiebreak)
    since = store.received_since(tenant, pd.Timestamp(art.manifest.created_at))
    live.apply(since[since[SEQ] <= watermark])
    feed = EventFeed(tenant, live, watermark, ledger=None if matcher is None else matcher.ledger,
                     interval=sync_interval)
    if expect is not None:
        answers = expect.answers.emptied()
    else:
        answers = AnswerCache(0) if answer_cache is None else answer_cache
    portraits: SeqCache[tuple[str, str, int], Any] = SeqCache(PORTRAITS if answers.enabled else 0, answers.ttl_s)
    # A text's query vector (the encoder's cache) and its search are remembered for as many texts; a reload
    # keeps the limit of the version it replaces.
    memo = query_cache_texts if expect is None else 0 if expect.text_index is None else expect.text_index.capacity
    text_index = MemoSearch(art.index, memo) if memo > 0 else None
    served = Served(art, encoder, live, TextVectors(art, encoder), feed, matcher, answers=answers,
                    portraits=portraits, text_index=text_index)
    served.recommender(art.config)  # warm the default ranker before the first request
    _return_freed_memory()
    return served


def _return_freed_memory() -> None:
    """Hand back to the OS what loading freed but the allocators kept: pyarrow's pool (mimalloc) holds on to
    the buffers of the parquet files it decoded, and glibc to the heap top. At 1M items this was 120 MB
    of each worker's private memory, for the life of the process (benchmarks/memory_breakdown.py)."""
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: its allocator returns memory its own way
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class Tenant:
    def __init__(self, name: str, index_root: Path, served: Served, ads: AdsSource | None = None) -> None:
        self.name = name
        self.index_root = index_root
        self.served = served
        self.ads = ads
        self._reload_lock = threading.Lock()
        #: The version refused last: `follow` does not retry it until `current` points elsewhere.
        self._refused: Path | None = None

    def reload(self, store: EventStore) -> tuple[str, str]:
        """Switch to the version `current` points to now; return (old version, new version)."""
        with self._reload_lock:
            old = self.served
            root: Path | None = None
            try:
                root = resolve_version(self.index_root).resolve()
                if root == old.art.root.resolve():
                    if self.ads is not None:  # same index: re-read the campaigns file only
                        self.served = replace(old, ads=self._rematch(self.ads, old, store))
                    return old.version, old.version
                new = load_served(root, self.name, store, expect=old, ads=self.ads,
                                  sync_interval=old.feed.interval)
            except ReloadRefusedError:
                self._refused = root
                raise
            except (RecsysError, OSError, ValueError, RuntimeError) as exc:
                self._refused = root
                raise ReloadRefusedError(
                    f"refused to switch tenant {self.name!r} to the index under {self.index_root}: {exc}. "
                    f"Still serving {old.version}; fix or rebuild the index and reload again") from exc
            self.served, self._refused = new, None
            return old.version, new.version

    def follow(self, store: EventStore) -> tuple[str, str] | None:
        """`reload` when `current` points to another version than the one served (and than the one refused
        last); return (old version, new version) after a switch, None when there was nothing to do."""
        target = resolve_version(self.index_root).resolve()
        if target == self.served.art.root.resolve() or target == self._refused:
            return None
        return self.reload(store)

    def _rematch(self, ads: AdsSource, served: Served, store: EventStore) -> AdMatcher:
        """The campaigns file re-read, with a ledger that continues exactly where the version's feed is."""
        through = served.feed.watermark
        matcher = ads.matcher(served.art, served.encoder, store, self.name, through_seq=through)
        served.feed.adopt_ledger(matcher.ledger, through, store)
        return matcher


def _is_index(path: Path) -> bool:
    return (path / MANIFEST_FILE).is_file() or (path / CURRENT).exists()


def discover_tenants(index: Path, key_tenants: set[str] | None) -> dict[str, Path]:
    """Tenant → index root for the layout described in the module docstring."""
    if _is_index(index):
        if key_tenants is not None and len(key_tenants) != 1:
            raise ConfigError(
                f"{index} is a single index but the keys file names tenants {sorted(key_tenants)}; give one "
                f"index per tenant as {index}/<tenant>/ or keep keys of one tenant")
        return {next(iter(key_tenants)) if key_tenants else DEFAULT_TENANT: index}
    if not index.is_dir():
        resolve_version(index)  # raises the standard "does not exist; build one" error
    found = {p.name: p for p in sorted(index.iterdir()) if p.is_dir() and _is_index(p)}
    if not found:
        raise ArtifactError(f"{index} holds neither an index nor per-tenant index folders (<tenant>/current); "
                            f"build one with `recsys build --data DIR --index {index}`")
    if key_tenants is None:
        if len(found) != 1:
            raise ConfigError(f"{index} holds indexes for {sorted(found)}; serving several tenants needs --keys")
        return found
    missing = sorted(key_tenants - set(found))
    if missing:
        raise ConfigError(f"the keys file names tenants {missing} without an index under {index}; "
                          f"build them with `recsys build --data DIR --index {index}/<tenant>`")
    return {t: found[t] for t in sorted(key_tenants)}
