"""Blend configs per request: named configs from a file, experiments with deterministic arms, and
validated inline weights.

Config file (.json or .toml)::

    {"default": "base",
     "configs": {"base": {}, "pop-heavy": {"weights": {"popularity": 1.0}}},
     "experiments": {"pop-test": {"arms": {"control": "base", "treatment": "pop-heavy"},
                                  "split": {"control": 50, "treatment": 50}}}}

A named config's id is `<name>-<content hash>` unless it sets `id`, so a changed config never reuses an id.
A user's arm is a pure function of (experiment, user id): the same user always sees the same arm.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsys.config.blend import BlendConfig, parse_config, read_config_file
from recsys.errors import ConfigError

__all__ = ["Experiment", "BlendCatalog", "Resolved", "assign_arm", "diversity_lambda"]

#: The smallest MMR λ a diversity request maps to (λ must stay > 0: some relevance always counts).
MIN_MMR_LAMBDA = 0.05


def diversity_lambda(diversity: float) -> float:
    """MMR λ of a diversity in [0, 1]: 0 → 1.0 (pure relevance), 1 → MIN_MMR_LAMBDA (most diverse)."""
    return max(1.0 - float(diversity), MIN_MMR_LAMBDA)


@dataclass(frozen=True)
class Experiment:
    name: str
    arms: dict[str, str]  # arm → config name
    split: dict[str, float]  # arm → share (any positive scale)


@dataclass(frozen=True)
class Resolved:
    config: BlendConfig
    experiment: str | None = None
    arm: str | None = None


def assign_arm(user_id: str, experiment: str, split: Mapping[str, float]) -> str:
    """Deterministic arm: sha256(experiment, user) mapped onto the cumulative split (arms in name order)."""
    digest = hashlib.sha256(f"{experiment}\x00{user_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    total = sum(split.values())
    acc = 0.0
    arms = sorted(split)
    for arm in arms:
        acc += split[arm] / total
        if u < acc:
            return arm
    return arms[-1]


@dataclass(frozen=True)
class BlendCatalog:
    configs: dict[str, BlendConfig] = field(default_factory=dict)
    experiments: dict[str, Experiment] = field(default_factory=dict)
    default: str | None = None

    @classmethod
    def load(cls, path: str | Path) -> BlendCatalog:
        return cls.parse(read_config_file(path, "file of named blend configs"), str(path))

    @classmethod
    def for_tenants(cls, path: str | Path | None, tenants: Iterable[str]) -> dict[str, BlendCatalog]:
        """Each tenant's named configs. ``path`` is None (none: every tenant serves its index's own config),
        one file (shared by every tenant: one operator's configs), or a folder holding ``<tenant>.json`` or
        ``<tenant>.toml`` per tenant (a tenant without a file has no named configs). A tenant never sees
        another's names, in answers or in errors."""
        names = list(tenants)
        if path is None:
            return {t: cls() for t in names}
        folder = Path(path)
        if not folder.is_dir():
            shared = cls.load(folder)
            return {t: shared for t in names}
        out: dict[str, BlendCatalog] = {}
        for t in names:
            found = [f for f in (folder / f"{t}.json", folder / f"{t}.toml") if f.is_file()]
            if len(found) > 1:
                raise ConfigError(f"{folder}: tenant {t!r} has both {found[0].name} and {found[1].name}; keep one")
            out[t] = cls.load(found[0]) if found else cls()
        return out

    @classmethod
    def parse(cls, data: Any, source: str) -> BlendCatalog:
        if not isinstance(data, dict) or not isinstance(data.get("configs", {}), dict):
            raise ConfigError(f"{source}: expected an object with `configs` (name → blend config)")
        unknown = set(data) - {"default", "configs", "experiments"}
        if unknown:
            raise ConfigError(f"{source}: unknown keys {sorted(unknown)}; allowed: default, configs, experiments")
        configs = {}
        for name, body in data.get("configs", {}).items():
            cfg = parse_config(body, f"{source}:configs.{name}")
            if not (isinstance(body, dict) and body.get("id")):
                cfg = cfg.with_updates(id=f"{name}-{cfg.id.removeprefix('blend-')}")
            configs[name] = cfg
        experiments = {}
        for name, body in (data.get("experiments") or {}).items():
            arms = body.get("arms") if isinstance(body, dict) else None
            if not isinstance(arms, dict) or not arms:
                raise ConfigError(f"{source}: experiment {name!r} needs `arms` (arm → config name)")
            missing = sorted(c for c in arms.values() if c not in configs)
            if missing:
                raise ConfigError(f"{source}: experiment {name!r} names unknown configs {missing}")
            split = {a: float(body.get("split", {}).get(a, 1.0)) for a in arms}
            if any(v <= 0 for v in split.values()) or set(body.get("split", {})) - set(arms):
                raise ConfigError(f"{source}: experiment {name!r} split must give a positive share to its arms only")
            experiments[name] = Experiment(name, dict(arms), split)
        default = data.get("default")
        if default is not None and default not in configs:
            raise ConfigError(f"{source}: default config {default!r} is not among {sorted(configs)}")
        return cls(configs, experiments, default)

    def resolve(
        self,
        base: BlendConfig,
        *,
        user_id: str | None = None,
        name: str | None = None,
        experiment: str | None = None,
        weights: Mapping[str, float] | None = None,
        diversity: float | None = None,
    ) -> Resolved:
        """Pick the config for one request: experiment arm, else named, else file default, else `base`
        (the index's own); then inline weights and diversity are applied on top and validated."""
        arm = None
        if experiment is not None:
            exp = self.experiments.get(experiment)
            if exp is None:
                raise ConfigError(f"unknown experiment {experiment!r}; known: {sorted(self.experiments)}")
            if not user_id:
                raise ConfigError(f"experiment {experiment!r} assigns arms by user; pass user_id")
            arm = assign_arm(user_id, experiment, exp.split)
            name = exp.arms[arm]
        if name is not None:
            if name not in self.configs:
                raise ConfigError(f"unknown blend config {name!r}; known: {sorted(self.configs)}")
            cfg = self.configs[name]
        else:
            cfg = self.configs[self.default] if self.default else base
        if weights:
            bad = sorted(k for k, v in weights.items() if not (isinstance(v, (int, float)) and math.isfinite(v)))
            if bad:
                raise ConfigError(f"weights {bad} must be finite numbers")
            cfg = cfg.with_updates(weights={**cfg.weights.model_dump(), **dict(weights)})
        if diversity:
            cfg = cfg.with_updates(mmr_lambda=diversity_lambda(diversity))
        return Resolved(cfg, experiment, arm)
