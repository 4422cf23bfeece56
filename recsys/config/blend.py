"""Blend configuration as data: declared weights with an id, loadable from JSON or TOML.

Two A/B arms differ only by config; every answer names the config id that produced it.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from recsys.errors import ConfigError

__all__ = ["BlendWeights", "ProfileConfig", "BlendConfig", "load_config", "FEATURES", "MAX_WEIGHT"]

FEATURES = ("cosine", "popularity", "trending", "rating", "cooc", "sentiment", "ease")
#: Largest accepted blend weight. Every feature lies in [-1, 1] or close to it, so weights up to this bound keep
#: float32 scores finite (a weight of 1e308 overflows them to infinity); only ratios between weights matter.
MAX_WEIGHT = 1000.0


class BlendWeights(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    cosine: float = Field(1.0, ge=0, le=MAX_WEIGHT)
    popularity: float = Field(0.3, ge=0, le=MAX_WEIGHT)
    trending: float = Field(0.05, ge=0, le=MAX_WEIGHT)
    rating: float = Field(0.05, ge=0, le=MAX_WEIGHT)
    cooc: float = Field(0.5, ge=0, le=MAX_WEIGHT)
    #: Relative review sentiment in [-1, 1] (`recsys.features.signals`): items reviewed worse than the catalogue's
    #: usual score lower. Small by default: on rated data it overlaps `rating`; it matters for reviews
    #: without stars, whose sentiment comes from the text.
    sentiment: float = Field(0.05, ge=0, le=MAX_WEIGHT)
    #: EASE item–item score of the user's positive history (`recsys.features.ease`), divided by the user's
    #: largest: the strongest collaborative signal on most data.
    ease: float = Field(1.0, ge=0, le=MAX_WEIGHT)


class ProfileConfig(BaseModel):
    """User-profile parameters (see `recsys.features.profiles`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    half_life_days: float = Field(365.0, gt=0, le=36_500)
    item_weight: float = Field(1.0, ge=0, le=MAX_WEIGHT)
    text_weight: float = Field(0.3, ge=0, le=MAX_WEIGHT)


class BlendConfig(BaseModel):
    """What the ranker blends and how. `id` defaults to a hash of the content."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    id: str = ""
    weights: BlendWeights = BlendWeights()
    profile: ProfileConfig = ProfileConfig()
    #: Candidates fetched from the vector index before blending (over-fetch for filters and signals).
    candidates: int = Field(200, ge=10, le=100_000)
    #: Popular and co-occurring items added to the candidate set beside the cosine neighbours.
    extra_candidates: int = Field(100, ge=0, le=100_000)
    #: MMR trade-off in (0, 1]; 1.0 (or null) means pure relevance, lower means more diverse.
    mmr_lambda: float | None = Field(None, gt=0, le=1)

    @model_validator(mode="after")
    def _fill_id(self) -> BlendConfig:
        if not self.id:
            body = self.model_dump(exclude={"id"})
            digest = hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8]
            object.__setattr__(self, "id", f"blend-{digest}")
        return self

    def with_updates(self, **changes: Any) -> BlendConfig:
        data = self.model_dump()
        data.update(changes)
        data["id"] = changes.get("id", "")
        return parse_config(data, "updates")


def parse_config(data: Any, source: str) -> BlendConfig:
    try:
        return BlendConfig.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid blend config in {source}: {details}") from exc


def read_config_file(path: str | Path, what: str = "blend config") -> Any:
    """Parse a .json or .toml file; a missing or malformed file is a ConfigError that names it."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist; pass a .json or .toml {what}")
    try:
        text = p.read_text(encoding="utf-8")
        return tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot parse config {p}: {exc}") from exc


def load_config(path: str | Path) -> BlendConfig:
    """Read a blend config from .json or .toml; unknown keys and out-of-range values are errors."""
    return parse_config(read_config_file(path), str(path))
