from __future__ import annotations

import bm25s
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.data import schema as S
from recsys.errors import ConfigError, RecsysError, UnknownUserError
from recsys.evaluation import (
    BM25Scorer,
    EASEScorer,
    ItemKNNScorer,
    PopularityScorer,
    Scorer,
    build_eval_data,
    rank_in_batches,
    top_k,
)
from recsys.evaluation.bm25 import product_documents, query_term_matrix
from recsys.evaluation.data import tie_ranks

T = pd.Timestamp("2024-01-01", tz="UTC")
WORDS = ["apple", "banana", "cherry", "walnut", "pecan", "almond"]


def products(n=6):
    return pd.DataFrame({
        S.PRODUCT_ID: [f"p{i}" for i in range(n)],
        S.TITLE: [f"{WORDS[i] if i < len(WORDS) else f'item{i}'} box" for i in range(n)],
        S.DESCRIPTION: ["fruit" if i < 3 else "nut" for i in range(n)],
        S.CATEGORY: ["Food > Fruit" if i < 3 else "Food > Nuts" for i in range(n)],
        S.BRAND: [""] * n,
        S.PRICE: [np.nan] * n,
    })


def events(pairs, texts=None):
    rows = [
        (u, p, "purchase", T + pd.Timedelta(hours=h), np.nan, (texts or {}).get((u, p), ""))
        for h, (u, p) in enumerate(pairs)
    ]
    frame = pd.DataFrame(rows, columns=list(S.EVENT_COLUMNS))
    frame[S.TIMESTAMP] = frame[S.TIMESTAMP].astype("datetime64[us, UTC]")
    return frame


def checkerboard():
    """Fruit buyers (f*) take p0-p2, nut buyers (n*) p3-p5; the test users miss one item of their block."""
    pairs = [(f"f{u}", f"p{i}") for u in range(4) for i in range(3)]
    pairs += [(f"n{u}", f"p{i}") for u in range(3) for i in range(3, 6)]
    pairs += [("tf", "p0"), ("tf", "p1"), ("tn", "p4"), ("tn", "p5")]
    return products(), events(pairs)


def first_choice(scorer, params=None):
    prods, ev = checkerboard()
    data = build_eval_data(prods, ev, users=["tf", "tn"], seed=0)
    scorer.fit(data, params if params is not None else scorer.param_grid()[0])
    scores = scorer.score(data.user_rows(["tf", "tn"]))
    assert scores.dtype == np.float32 and scores.shape == (2, 6)
    return top_k(scores, data.matrix[data.user_rows(["tf", "tn"])], 1, data.tie_rank)[:, 0].tolist()


@pytest.mark.parametrize(
    "scorer,params",
    [(ItemKNNScorer(), {"k": None}), (ItemKNNScorer(), {"k": 2}), (EASEScorer(), {"lambda": 10.0}), (BM25Scorer(), {})],
)
def test_each_personal_baseline_completes_the_block(scorer, params):
    assert first_choice(scorer, params) == [2, 3]


def test_popularity_ranks_the_most_bought_item_first():
    # p0, p1 are bought by 5 users, p2 by 4: the fruit user already has p0/p1, so p4/p5 (4 users) tie with p2
    prods, ev = checkerboard()
    data = build_eval_data(prods, ev, users=["tf"], seed=0)
    pop = PopularityScorer()
    pop.fit(data, {})
    assert pop.score(np.array([0]))[0].tolist() == [5, 5, 4, 3, 4, 4]


def test_scorers_follow_the_protocol_and_refuse_scoring_before_fit():
    for scorer in (PopularityScorer(), ItemKNNScorer(), EASEScorer(), BM25Scorer()):
        assert isinstance(scorer, Scorer)
        assert scorer.param_grid()
        with pytest.raises(RecsysError, match="before fit"):
            scorer.score(np.array([0]))


def test_ease_guard_refuses_too_many_items_with_a_reason():
    prods, ev = checkerboard()
    with pytest.raises(ConfigError, match="max_items"):
        EASEScorer(max_items=3).fit(build_eval_data(prods, ev), {"lambda": 10.0})


def test_ease_gives_never_seen_items_zero():
    prods, ev = products(8), checkerboard()[1]
    data = build_eval_data(prods, ev, users=["tf"])
    ease = EASEScorer()
    ease.fit(data, {"lambda": 10.0})
    assert ease.score(np.array([0]))[0, 6:].tolist() == [0.0, 0.0]


def test_bm25_matches_bm25s_get_scores():
    prods = products()
    corpus = bm25s.tokenize(product_documents(prods), stopwords="en", show_progress=False)
    ret = bm25s.BM25()
    ret.index(corpus, show_progress=False)
    ours = BM25Scorer()
    ours.fit(build_eval_data(prods, events([("u", "p0")], {("u", "p0"): "banana banana nut"})), {})
    query = "banana banana nut " + product_documents(prods)[0]
    expected = ret.get_scores(bm25s.tokenize(query, stopwords="en", return_ids=False, show_progress=False)[0])
    assert ours.score(np.array([0]))[0] == pytest.approx(expected, rel=1e-5)


def test_bm25_query_without_known_tokens_scores_zero():
    vocab = {"apple": 0, "": 1}
    m = query_term_matrix(["the and of", "zzz qqq", ""], vocab, 2)
    assert m.nnz == 0


def test_top_k_excludes_history_and_breaks_ties_by_seeded_order():
    n = 20
    tie = tie_ranks(n, seed=7)
    scores = np.zeros((2, n), dtype=np.float32)
    history = sp.csr_matrix(([1, 1], ([0, 1], [int(np.argmin(tie)), 3])), shape=(2, n))
    got = top_k(scores, history, n - 1, tie)
    by_tie = np.argsort(tie)
    assert got[0].tolist() == [i for i in by_tie if i != by_tie[0]]
    assert got[1].tolist() == [i for i in by_tie if i != 3]
    assert got[1].tolist() != sorted(got[1].tolist())  # not product (index) order
    assert np.array_equal(top_k(scores, history, n - 1, tie_ranks(n, seed=7)), got)  # fixed by the seed


def test_top_k_scores_first_then_ties_and_pads():
    tie = np.array([3, 2, 1, 0])  # item 3 wins ties
    scores = np.array([[1.0, 2.0, 2.0, 1.0], [0.0, -0.0, np.nan, 5.0]], dtype=np.float32)
    history = sp.csr_matrix(np.array([[0, 0, 0, 0], [0, 0, 0, 1]]))
    assert top_k(scores, history, 4, tie).tolist() == [[2, 1, 3, 0], [1, 0, -1, -1]]  # NaN and history never shown
    assert top_k(np.array([[1.0, 2.0]], np.float32), None, 3, np.array([0, 1])).tolist() == [[1, 0, -1]]


def test_top_k_agrees_with_a_lexsort_reference():
    rng = np.random.default_rng(0)
    scores = rng.integers(-3, 4, size=(50, 40)).astype(np.float32)  # many ties, negatives
    tie = tie_ranks(40, seed=1)
    history = sp.random(50, 40, density=0.2, random_state=2, format="csr")
    got = top_k(scores, history, 7, tie)
    masked = np.where(history.toarray() != 0, -np.inf, scores)
    for u in range(50):
        ref = np.lexsort((tie, -masked[u]))[:7]
        assert got[u].tolist() == ref.tolist()
    batched = rank_in_batches(lambda rows: scores[rows], np.arange(50), history, 7, tie, batch_size=8)
    assert np.array_equal(batched, got)


def test_unknown_users_are_named():
    prods, ev = checkerboard()
    with pytest.raises(UnknownUserError, match="nobody"):
        build_eval_data(prods, ev).user_rows(["tf", "nobody"])
