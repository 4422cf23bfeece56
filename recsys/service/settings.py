"""Service settings: one pydantic-settings model, read from `RECSYS_*` environment variables and
overridable in code (tests build `Settings(index=...)` directly)."""

from __future__ import annotations

import ipaddress
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from recsys.store.dsn import describe, is_postgres_url

#: Logged by a server started without API keys (and printed by `recsys serve` before it starts).
OPEN_MODE_WARNING = ("no --keys given: running OPEN (no API keys, every caller is admin), single tenant, "
                     "loopback only")


__all__ = ["Settings", "is_loopback", "OPEN_MODE_WARNING"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RECSYS_", frozen=True, extra="forbid")

    #: One index (a root with `current`, or a version folder) or a folder with one index root per tenant.
    index: Path
    #: Where ingested events are stored: a SQLite file (default `<index>/events.db`) or a PostgreSQL server
    #: (`postgresql://user[:password]@host[:port]/dbname`).
    events_db: str | None = None
    #: Named blend configs and experiments (.json/.toml); see `recsys.config.catalog`.
    config: Path | None = None
    #: API keys file (`recsys keys create`); None runs open, single tenant, loopback only.
    keys: Path | None = None
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    max_k: int = Field(100, ge=1, le=10_000)
    max_body_bytes: int = Field(1_000_000, ge=1_024)
    max_events_per_batch: int = Field(5_000, ge=1)
    #: Most recent stored events merged into a user's profile per request.
    max_user_events: int = Field(1_000, ge=1)
    #: FAISS OpenMP threads per search: 1 for single online queries (a single query is memory-bound; a
    #: second thread only adds OpenMP start-up and contention with the other requests).
    search_threads: int = Field(1, ge=1)
    #: Free-text encoding: with > 0, concurrent requests share encoder calls, the first waiting up to this
    #: many milliseconds for others (`recsys.encoders.batching`). Off by default: on a 2-core CPU the ONNX
    #: engine already runs concurrent calls in parallel and batching measured slower
    #: (`benchmarks/bench_microbatch.py`); it pays where one call has a large fixed cost (a GPU).
    micro_batch_ms: float = Field(0.0, ge=0.0, le=100.0)
    #: Distinct free-text queries whose vectors and index searches each worker remembers (least recently
    #: used evicted; 0: off). A request's texts are encoded once for its ranking and its ads, and repeated
    #: queries neither encoded nor searched. Each remembered text costs about dim × 4 bytes for its vector
    #: and 12 bytes per searched candidate (≈ 4 KB at 384-d): 16 MB per worker at the default.
    query_cache_texts: int = Field(4096, ge=0, le=100_000)
    #: Threadpool size for the plain-`def` (CPU-bound) endpoints, per worker process; more threads only
    #: contend for the GIL: with 8, 2 workers at 16 connections (100k items, every answer ranked) spent
    #: 5.4–6.7 ms of CPU per request at p99 145 ms, with 2–4 threads 4.1–4.7 ms at p99 50–77 ms
    #: (`benchmarks/README.md`, "HTTP service"). A few stay so a slow request (an event batch, a text
    #: encoding, a PostgreSQL round trip) does not hold up every other one.
    worker_threads: int = Field(4, ge=1, le=256)
    #: Where the read endpoints (user recommendations, similar items, portraits) rank: on the worker's
    #: event loop (True) or in the threadpool (False). None: on the loop when the event store is SQLite,
    #: whose reads are local and never wait on a writer, so a read never waits on anything but the CPU;
    #: a PostgreSQL round trip would hold up every other request, so there they stay in the threadpool.
    #: Each threadpool hop hands the request between threads, and on a virtual machine every hand-off
    #: wakes a vCPU: 1M items, one worker, 8 connections, every answer ranked, 4.5–4.8 CPU ms per
    #: request on the loop vs 8.0–8.4 ms through the threadpool (207–218 vs 87–101 req/s). With it, text
    #: queries encode and event batches write in the threadpool (both release the GIL there) and do the
    #: rest on the loop; without it they run wholly in the threadpool.
    inline_reads: bool | None = None
    #: Ad campaigns (.parquet/.jsonl) for a single tenant, or a folder holding `<tenant>.parquet|.jsonl`.
    campaigns: Path | None = None
    #: Ads returned beside organic results when a request does not say (`ads=`); 0 turns ads off.
    ads_per_answer: int = Field(2, ge=0, le=20)
    #: Minimum cosine between the request's context and a campaign for its ad to be shown.
    ads_relevance_floor: float = Field(0.2, ge=-1.0, le=1.0)
    #: ... and closer to it than this share of the catalogue's products (adapts the floor to the domain).
    ads_min_percentile: float = Field(0.8, ge=0.0, le=1.0)
    #: Log one JSON line per recommendation answer (tenant, user, config, arm) for A/B analysis.
    log_answers: bool = True
    #: Events dated more than this after the server's receive time are refused (422): seconds
    #: (`RECSYS_MAX_FUTURE_SKEW=3600`) or an ISO 8601 duration (`PT1H`, `P1D`).
    max_future_skew: timedelta = Field(timedelta(days=1), ge=timedelta(0))
    #: A scrape-only secret for GET /metrics (sent as X-API-Key or `Authorization: Bearer`). With API keys
    #: and no metrics key, /metrics needs an admin key; an open (loopback-only) server leaves it open.
    metrics_key: str | None = Field(None, min_length=16, max_length=256)
    #: Seconds between reads of new events from the store into this process's live counters and ad ledger
    #: (checked at the start of requests): how stale another worker's or node's events may be in an answer.
    #: A process's own events are applied before their POST is answered. 0 syncs on every request.
    sync_interval: float = Field(1.0, ge=0.0, le=3600.0)
    #: Seconds between checks of each tenant's `current` pointer; a moved pointer switches this process to
    #: the new version, as `POST /v1/admin/reload` does. 0 turns polling off (reload only on that call).
    reload_poll_interval: float = Field(2.0, ge=0.0, le=3600.0)

    #: Seconds a user's ranked answer to one exact request may be reused while neither the user nor the
    #: live counters have a newer event (`recsys.online.cache`); ads are matched afresh on every request.
    #: 0 turns the answer cache off.
    answer_cache_ttl: float = Field(30.0, ge=0.0, le=3600.0)
    #: Seconds a reused answer may ignore other users' newer events (their effect on the popularity and
    #: trending counters); 0 (default) reuses an answer only while the counters are unchanged.
    answer_cache_lag: float = Field(0.0, ge=0.0, le=3600.0)
    #: Most result rows of cached answers kept per tenant and worker (an answer counts 1 + its results;
    #: least recently used leave first): about 1 KB each, so the default bounds the cache near 100 MB.
    answer_cache_size: int = Field(100_000, ge=0, le=10_000_000)
    #: MiB of response bodies kept per worker to answer a repeated identical GET without the framework
    #: while its cached answer is still valid (`recsys.service.replay`); 0 turns that off.
    answer_replay_mb: int = Field(64, ge=0, le=65_536)

    @field_validator("max_future_skew", mode="before")
    @classmethod
    def _seconds(cls, v: Any) -> Any:
        # Environment variables are strings; pydantic reads a bare number only from a number.
        if isinstance(v, str):
            try:
                return float(v)
            except ValueError:
                return v
        return v

    @field_validator("events_db", mode="before")
    @classmethod
    def _path_or_url(cls, v: Any) -> Any:
        # A path object (tests, callers) names a SQLite file; pydantic would refuse it for a str field.
        return os.fspath(v) if isinstance(v, os.PathLike) else v

    def environ(self) -> dict[str, str]:
        """These settings as the `RECSYS_*` environment variables that rebuild them in another process (the
        workers of `recsys serve --workers N`); unset optional values are left out."""
        return {f"RECSYS_{name.upper()}": value if isinstance(value, str) else json.dumps(value)
                for name, value in self.model_dump(mode="json").items() if value is not None}

    @property
    def events_path(self) -> Path | str:
        """What `recsys.store.open_event_store` opens: the PostgreSQL URL as given, else the SQLite file."""
        if self.events_db is not None:
            return self.events_db if is_postgres_url(self.events_db) else Path(self.events_db)
        return (self.index if self.index.is_dir() else self.index.parent) / "events.db"

    @property
    def events_label(self) -> str:
        """The events store for messages and logs: a PostgreSQL URL without its password."""
        where = self.events_path
        return describe(where) if isinstance(where, str) else str(where)
