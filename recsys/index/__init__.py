"""Vector indexes: one interface (`VectorIndex`), an exact numpy and a FAISS backend, a pure chooser,
and self-describing versioned folders."""

from __future__ import annotations

from recsys.index.autotune import TunedIndex, TuneOptions, tune_index
from recsys.index.base import VectorIndex
from recsys.index.choose import IndexSpec, choose_index
from recsys.index.dedupe import DedupedIndex, group_identical
from recsys.index.exact import ExactIndex, exact_topk, measure_recall
from recsys.index.faiss_index import FaissIndex, set_search_threads
from recsys.index.loader import load_index
from recsys.index.manifest import Manifest
from recsys.index.store import list_versions, point_current, resolve_version

__all__ = [
    "VectorIndex", "IndexSpec", "choose_index", "ExactIndex", "exact_topk",
    "FaissIndex", "set_search_threads", "Manifest", "list_versions", "point_current", "resolve_version",
    "measure_recall", "TuneOptions", "TunedIndex", "tune_index", "DedupedIndex", "group_identical", "load_index",
]

