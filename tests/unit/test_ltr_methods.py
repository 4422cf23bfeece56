"""`multisource` and `ltr` in the evaluation harness: registration, ablation names, known answers."""

from __future__ import annotations

import pytest

from recsys.encoders import CachedEncoder, make_encoder
from recsys.errors import ConfigError
from recsys.evaluation import EvalConfig, evaluate_methods
from recsys.evaluation.ltr_scorers import ABLATIONS, LTRScorer, ltr_methods
from recsys.evaluation.methods import all_methods
from tests.unit.ltr_data import sequence_frames

ENC = CachedEncoder(make_encoder("hashing-256"))


def test_methods_register_and_ablations_only_on_request():
    methods = all_methods(ENC)
    assert {"multisource", "ltr"} <= methods.keys() and not set(ABLATIONS) & methods.keys()
    chosen = all_methods(ENC, only=["ltr", "ltr-no_next", "ltr-no_text"])
    assert set(chosen) == {"ltr", "ltr-no_next", "ltr-no_text"}
    assert "next" not in chosen["ltr-no_next"].params.sources
    assert chosen["ltr-no_text"].train.drop_groups == ("text",)
    with pytest.raises(ConfigError, match="unknown method"):
        all_methods(ENC, only=["ltr-no_colour"])


def test_learned_ranker_finds_the_next_item_in_the_protocol():
    products, events = sequence_frames(n_users=80, length=6, seed=2)
    scorers = ltr_methods(ENC)
    assert isinstance(scorers["ltr"], LTRScorer)
    report = evaluate_methods(products, events, scorers, EvalConfig(scheme="leave-one-out", n_boot=0, ks=(1, 10)))
    ltr, ms = report["methods"]["ltr"], report["methods"]["multisource"]
    assert ltr["recall@1"] >= 0.9  # the next item is always last + 1
    assert ltr["recall@1"] >= ms["recall@1"]
