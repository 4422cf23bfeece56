"""Request and response bodies of the HTTP API (they also document it at /docs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from recsys.data.schema import EventType

__all__ = ["EventIn", "EventBatch", "EventsAck", "TextRequest", "RecommendationOut", "RecommendationsOut", "AdOut",
           "ReloadOut"]

_ID = Field(min_length=1, max_length=256)


class _In(BaseModel):
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


class EventsAck(BaseModel):
    accepted: int
    first_seq: int | None
    last_seq: int | None
    durable: bool = True


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


class RecommendationOut(BaseModel):
    product_id: str
    title: str
    score: float
    parts: dict[str, float]
    sources: list[str] | None = None
    because: str | None = None


class AdOut(BaseModel):
    campaign_id: str
    advertiser: str
    headline: str
    body: str
    product_id: str | None
    product_title: str | None
    relevance: float
    pctr: float
    ecpm: float
    bid_type: str
    bid: float
    why: str


class RecommendationsOut(BaseModel):
    results: list[RecommendationOut]
    ads: list[AdOut] = []
    strategy: str
    config_id: str
    index_version: str
    fallback: str | None
    user_id: str | None
    experiment: str | None = None
    arm: str | None = None


class ReloadOut(BaseModel):
    tenant: str
    previous_version: str
    version: str
    changed: bool
