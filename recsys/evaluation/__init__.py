"""Offline evaluation: splits, the ``Scorer`` interface, classic baselines, metrics and the protocol runner.

Typical use::

    from recsys.evaluation import EvalConfig, default_scorers, evaluate_methods, write_report
    report = evaluate_methods(products, events, default_scorers(), EvalConfig(scheme="last-day"))
    write_report(report, "benchmarks/eval")
"""

from __future__ import annotations

from recsys.data.splits import Split, split_events, train_valid_events
from recsys.evaluation.baselines import (
    BM25Scorer,
    EASEScorer,
    ItemKNNScorer,
    PopularityScorer,
    default_scorers,
)
from recsys.evaluation.data import EvalData, build_eval_data
from recsys.evaluation.ranking import rank_in_batches, top_k
from recsys.evaluation.report import write_report
from recsys.evaluation.runner import EvalConfig, evaluate_methods
from recsys.evaluation.scorer import Scorer

__all__ = [
    "BM25Scorer",
    "EASEScorer",
    "EvalConfig",
    "EvalData",
    "ItemKNNScorer",
    "PopularityScorer",
    "Scorer",
    "Split",
    "build_eval_data",
    "default_scorers",
    "evaluate_methods",
    "rank_in_batches",
    "split_events",
    "top_k",
    "train_valid_events",
    "write_report",
]
