"""Request and response bodies of the HTTP API (they also document it at /docs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from recsys.ads.matcher import AdMatch
from recsys.data.schema import EventType
from recsys.recommender import Recommendation, Strategy

__all__ = ["EventIn", "EventBatch", "EventsAck", "TextRequest", "AdExclusion", "RecommendationsOut", "ReloadOut",
           "HealthOut", "ReadyOut", "ProfileOut", "ErrorOut", "error_responses", "OverviewOut", "LiveOut"]

_ID = Field(min_length=1, max_length=256)


class _In(BaseModel):
    #: Request bodies are closed and their numbers finite ("NaN"/"Infinity" strings included).
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class _Out(BaseModel):
    """Response bodies are closed: the OpenAPI schema says `additionalProperties: false`, and a body
    with a key its model does not declare fails validation instead of reaching a client."""

    model_config = ConfigDict(extra="forbid")


class EventIn(_In):
    """One canonical event. A timestamp without a zone is taken as UTC."""

    user_id: str = _ID
    product_id: str | None = Field(None, max_length=256)
    event_type: EventType
    timestamp: datetime
    rating: float | None = Field(None, ge=1, le=5)
    text: str = Field("", max_length=10_000)
    #: Ad events only: the campaign an impression or click belongs to (spend, frequency caps, pCTR).
    campaign_id: str | None = Field(None, min_length=1, max_length=256)
    #: The client's id of this event, unique per tenant: an event whose id is already stored is skipped
    #: (counted in `duplicates`), so a retried event is stored and counted once.
    event_id: str | None = Field(None, min_length=1, max_length=256,
                                 description="Client id of the event, unique per tenant; a repeat is skipped")

    @model_validator(mode="after")
    def _ad_event(self) -> EventIn:
        if self.campaign_id is not None and self.event_type not in ("impression", "click"):
            raise ValueError("only impression and click events may carry a campaign_id")
        return self

    @field_validator("timestamp", mode="before")
    @classmethod
    def _iso_only(cls, v: Any) -> Any:
        if isinstance(v, (int, float)):  # as in the canonical schema: an epoch number's unit is ambiguous
            raise ValueError("use an ISO 8601 timestamp such as '2018-08-22T10:00:00Z', not an epoch number")
        return v

    @field_validator("timestamp")
    @classmethod
    def _in_range(cls, v: datetime) -> datetime:
        if not 1970 <= v.year <= 2200:
            raise ValueError(f"timestamp year {v.year} is outside 1970–2200")
        return v


class EventBatch(_In):
    events: list[EventIn] = Field(min_length=1)


class EventsAck(_Out):
    accepted: int = Field(description="Events this batch stored")
    first_seq: int | None
    last_seq: int | None
    durable: bool = True
    duplicates: int = Field(0, description="Events skipped because their event_id was already stored")


class TextRequest(_In):
    """Cold start from free texts, or recommendations for `user_id` that never 404 (popular fallback)."""

    texts: list[str] = Field(default_factory=list, max_length=50)
    user_id: str | None = Field(None, min_length=1, max_length=256)
    k: int = Field(10, ge=1)
    category: str | None = Field(None, max_length=200)
    min_price: float | None = Field(None, ge=0)
    max_price: float | None = Field(None, ge=0)
    exclude_seen: bool = True
    diversity: float | None = Field(None, ge=0, le=1)
    explain: bool = False
    #: Ads beside the results (default: the server's `ads_per_answer`; 0 = none).
    ads: int | None = Field(None, ge=0, le=20)
    config: str | None = Field(None, max_length=100)
    experiment: str | None = Field(None, max_length=100)
    weights: dict[str, float] | None = None

    @model_validator(mode="after")
    def _needs_input(self) -> TextRequest:
        if not self.user_id and not any(t.strip() for t in self.texts):
            raise ValueError("pass non-empty `texts` (cold start) or a `user_id`")
        if any(len(t) > 2_000 for t in self.texts):
            raise ValueError("each text may be at most 2,000 characters")
        return self


class AdExclusion(_Out):
    campaign_id: str
    reason: str = Field(description="Why the campaign won no ad slot: paused, outside its dates, budget spent, "
                                    "ahead of pacing, frequency cap, below the relevance floor, …")


class RecommendationsOut(_Out):
    """Each result is the library's `Recommendation` and each ad its `AdMatch`: one definition per shape.

    `sources` and `because` have defaults in `Recommendation`, so the schema lists them as optional: the
    service sends them only when `explain=true` (see `recsys.service.answers.render`). One model covers
    both shapes; `response_model_exclude_none` cannot, because `fallback`, `user_id` and an ad's
    `product_id` are part of every answer even when null, and `sources` defaults to [] rather than null.
    """

    results: list[Recommendation] = Field(
        description="Best first. With explain=true each result also carries `sources` (the candidate "
                    "generators that found it) and `because` (a reason, or null when there is none).")
    ads: list[AdMatch] = []
    ads_excluded: list[AdExclusion] = Field(
        [], description="With explain=true: why each other candidate campaign got no ad (omitted otherwise)")
    strategy: Strategy
    config_id: str
    index_version: str
    fallback: str | None = Field(description="null, \"text\" or \"popular\": what answered instead of the profile")
    user_id: str | None
    experiment: str | None = None
    arm: str | None = None


class ReloadOut(_Out):
    tenant: str
    previous_version: str
    version: str
    changed: bool


class HealthOut(_Out):
    status: Literal["ok"]


class ReadyOut(_Out):
    """`{"ready": true, "tenants": n}` with 200, `{"ready": false}` with 503 while indexes load."""

    ready: bool
    tenants: int | None = None


# -- the user portrait (GET /v1/users/{id}/profile), as `recsys.explain.portraits.portrait` builds it ------------

class ItemRef(_Out):
    product_id: str
    title: str


class TermWeight(_Out):
    term: str
    weight: float


class Interest(_Out):
    """One interest cluster: a label naming its dominant category (and brand), else its top terms; its share
    of the user's positive weight."""

    label: str
    category: str | None = Field(description="The deepest category path prefix carrying ≥ 60 % of the cluster's "
                                             "weight; null when not even a top level does")
    brand: str | None = Field(description="The brand carrying ≥ 60 % of the cluster's weight; null when none does")
    share: float
    terms: list[TermWeight]
    n_items: int
    examples: list[ItemRef]


class CategoryWeight(_Out):
    category: str
    weight: float


class PastItem(ItemRef):
    category: str
    events: list[str] = Field(description="What the user did with it, as verbs in the user's language")
    weight: float = Field(description="Signed, time-decayed event weight")
    sentiment: float | None = Field(description="Mean sentiment of the user's reviews of it; null without one")
    contribution: float = Field(description="weight × cosine(item, profile vector)")


class SearchWeight(_Out):
    text: str
    weight: float


class ProfileOut(_Out):
    user_id: str
    has_profile: bool
    language: str
    n_events: int
    interests: list[Interest]
    categories: list[CategoryWeight]
    terms: list[TermWeight]
    items: list[PastItem]
    searches: list[SearchWeight]
    index_version: str
    live_events: int = Field(description="Events ingested since the index was built that the portrait includes")


# -- errors ------------------------------------------------------------------------------------------------------

class ErrorOut(_Out):
    """Every error answer (see `recsys.service.errors`); `hint` and `problems` only when there are some."""

    error: str = Field(description="The error class, e.g. UnknownUserError, DataValidationError")
    detail: str
    hint: str | None = None
    problems: list[str] | None = Field(None, description="Validation errors only: one line per invalid input")


_ERRORS = {
    401: "No or unknown X-API-Key",
    403: "The key may not call this endpoint (not an admin key) or its tenant has no index here",
    404: "Unknown user or item",
    409: "Reload refused: the new index is broken or does not match; the old one keeps serving",
    413: "Request body over the server's limit (--max-body-bytes); nothing was stored",
    422: "Invalid input (including non-finite numbers and invalid Unicode); nothing was stored",
    503: "Not ready: indexes are still loading",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route or router: each status answered with `ErrorOut`."""
    return {s: {"model": ErrorOut, "description": _ERRORS[s]} for s in statuses}


# -- the dashboard's read-only views (GET /v1/dashboard/*; see `recsys.service.routers.dashboard`) ---------------

class EncoderSummary(_Out):
    name: str
    dim: int
    engine: str
    revision: str


class IndexSummary(_Out):
    factory: str = Field(description="The FAISS factory string the auto-tuner chose")
    metric: str
    count: int
    unique_count: int | None
    search_params: dict[str, int]
    recall_at_10: float = Field(description="Measured at build time against exact search")
    recall_queries: int
    qps: float | None = Field(description="Single-query searches per second on one thread, at build time")
    target_recall: float | None
    target_met: bool | None


class RankerSummary(_Out):
    kind: str
    chosen_by: str = Field(description="\"requested\" by the build, or the validation slice that chose it")
    metric: str | None
    candidates: dict[str, dict[str, float]] = Field(description="Each candidate's validation metrics")
    detail: str


class DataSummary(_Out):
    source: str
    n_products: int
    n_events: int
    n_users: int
    n_users_with_profile: int
    as_of: str


class ManifestSummary(_Out):
    """What the served version's manifest records (`recsys.index.manifest.Manifest`), file hashes left out."""

    name: str
    version: str
    created_at: str
    build_seconds: float
    parent: str | None
    lineage: str = Field(description="How the version was built from its parent: full, rebuild, append, …")
    blend_config_id: str
    encode_texts_per_s: float
    encoder: EncoderSummary
    index: IndexSummary
    ranker: RankerSummary
    data: DataSummary


class MethodScore(_Out):
    method: str
    recall: float | None
    ndcg: float | None
    mrr: float | None
    coverage: float | None
    skipped: str | None = Field(description="Why the method was skipped; null when it ran")


class EvaluationSummary(_Out):
    """The newest `report.json` of `recsys evaluate` beside the served index."""

    file: str = Field(description="Path relative to the tenant's index folder")
    modified: datetime
    k: int
    split: str | None
    users_evaluated: int | None
    methods: list[MethodScore]


class AudienceRow(_Out):
    campaign_id: str
    reach: int
    reach_target: int
    reach_holdout: int
    score_p50: float | None
    estimated_cost: float | None


class AudienceSummary(_Out):
    """The newest `summary.json` of `recsys audience build` beside the served index."""

    file: str = Field(description="Path relative to the tenant's index folder")
    modified: datetime
    distinct_users: int | None
    estimated_cost: float | None
    mean_jaccard: float | None
    campaigns: list[AudienceRow]


class OverviewOut(_Out):
    tenant: str
    index_version: str
    manifest: ManifestSummary
    products: int
    users_with_profile: int
    campaigns: int = Field(description="Campaigns the tenant serves ads from (0: ads off)")
    events_stored: int = Field(description="Events in the event store for this tenant")
    evaluation: EvaluationSummary | None
    audiences: AudienceSummary | None


class MinuteCount(_Out):
    minute: datetime = Field(description="Start of the minute (UTC)")
    events: int


class TrendingItem(_Out):
    product_id: str
    title: str
    trending: float = Field(description="The trending signal the ranker uses, live events included")
    popularity: float
    live_weight: float = Field(description="Weighted events counted since the index was built")


class LiveOut(_Out):
    tenant: str
    index_version: str
    now: datetime
    minutes: int
    per_minute: list[MinuteCount] = Field(description="Events stored per minute, oldest first, one row per minute")
    total: int
    by_type: dict[str, int]
    events_applied: int = Field(description="Events applied to this version's live counters since it loaded")
    trending: list[TrendingItem]
