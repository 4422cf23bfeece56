"""Configuration as data: blend configs (`blend`) and the catalogue of named configs and experiments that
resolves the config of one request (`catalog`), shared by the CLI and the HTTP API."""

from __future__ import annotations

from recsys.config.blend import (
    FEATURES,
    MAX_WEIGHT,
    BlendConfig,
    BlendWeights,
    ProfileConfig,
    load_config,
    parse_config,
    read_config_file,
)
from recsys.config.catalog import BlendCatalog, Experiment, Resolved, assign_arm, diversity_lambda

__all__ = [
    "FEATURES", "MAX_WEIGHT", "BlendCatalog", "BlendConfig", "BlendWeights", "Experiment", "ProfileConfig", "Resolved",
    "assign_arm", "diversity_lambda", "load_config", "parse_config", "read_config_file",
]
