"""BM25 (via ``bm25s``) from a user's history text to product text.

The query of a user is the text of their history events (reviews, search queries) plus the text of each
distinct history item; a document is the product's title, category, brand and description. By default a
history item contributes its whole document: on amazon2018_gift_cards (last-day) that reproduces the
reference numbers (R@10 .091 / R@50 .347 vs .089 / .338), while titles only give R@50 .19. Scoring is
one sparse product, ``query_term_counts @ bm25_weightsᵀ``, which equals ``bm25s.BM25.get_scores`` for
each user (a token counted as often as it occurs in the query) without a per-user loop.
Text is tokenized with `recsys.text.tokenize` (jieba for Chinese runs; for English text it yields exactly the
tokens of ``bm25s.tokenize(..., stopwords="en")``), so Chinese and mixed catalogues get real words.
"""

from __future__ import annotations

import itertools
from typing import Any

import bm25s
import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data import schema as S
from recsys.errors import ConfigError
from recsys.evaluation.data import EvalData
from recsys.evaluation.scorer import require_fitted
from recsys.text.tokenize import tokenize_many

__all__ = ["BM25Scorer", "product_documents", "user_queries", "query_term_matrix"]

DOCUMENT_COLUMNS = (S.TITLE, S.CATEGORY, S.BRAND, S.DESCRIPTION)


def _clean(col: pd.Series) -> pd.Series:
    return col.fillna("").astype(str)


def product_documents(products: pd.DataFrame, fields: tuple[str, ...] = DOCUMENT_COLUMNS) -> list[str]:
    """The ``fields`` (default title, category, brand, description) joined by spaces, missing parts empty."""
    parts = [_clean(products[c]) for c in fields if c in products.columns]
    if not parts:
        return [""] * len(products)
    joined = parts[0]
    for p in parts[1:]:
        joined = joined + " " + p
    return joined.str.strip().tolist()


def user_queries(
    train_events: pd.DataFrame,
    products: pd.DataFrame,
    user_ids: np.ndarray,
    item_fields: tuple[str, ...] = DOCUMENT_COLUMNS,
) -> list[str]:
    """Per user (in ``user_ids`` order): their event texts, then ``item_fields`` of their distinct history items."""
    ev = train_events[[S.USER_ID, S.PRODUCT_ID]].copy()
    ev["_text"] = _clean(train_events[S.TEXT]) if S.TEXT in train_events.columns else ""
    item_text = pd.Series(product_documents(products, item_fields), index=products[S.PRODUCT_ID].to_numpy())
    items = ev[ev[S.PRODUCT_ID].notna()].drop_duplicates([S.USER_ID, S.PRODUCT_ID])
    items = items.assign(_text=item_text.reindex(items[S.PRODUCT_ID].to_numpy()).fillna("").to_numpy())
    both = pd.concat([ev[[S.USER_ID, "_text"]], items[[S.USER_ID, "_text"]]], ignore_index=True)
    both = both[both["_text"].str.len() > 0]
    per_user = both.groupby(S.USER_ID, sort=False)["_text"].agg(" ".join)
    return per_user.reindex(pd.Index(user_ids, dtype=object)).fillna("").tolist()


def query_term_matrix(queries: list[str], vocab: dict[str, int], n_terms: int) -> sp.csr_matrix:
    """Counts of in-vocabulary tokens per query, tokenised exactly like the corpus ("" dropped)."""
    tokens = tokenize_many(queries)
    lengths = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
    flat = np.fromiter(itertools.chain.from_iterable(tokens), dtype=object, count=int(lengths.sum()))
    rows = np.repeat(np.arange(len(tokens)), lengths)
    known = pd.Index(list(vocab.keys()), dtype=object)
    ids = np.asarray(list(vocab.values()), dtype=np.int64)
    pos = known.get_indexer(pd.Index(flat, dtype=object)) if len(flat) else np.zeros(0, np.int64)
    keep = (pos >= 0) & (flat != "")
    cols = ids[pos[keep]]
    data = np.ones(len(cols), dtype=np.float32)
    m = sp.csr_matrix((data, (rows[keep], cols)), shape=(len(queries), n_terms), dtype=np.float32)
    m.sum_duplicates()
    return m


class BM25Scorer:
    """BM25 (Lucene variant, k1=1.5, b=0.75 by default) of history text against product text.

    ``document_fields`` picks the product text that is indexed, ``history_item_fields`` what each history
    item adds to the query (e.g. ``(TITLE,)`` for titles only).
    """

    name = "bm25"

    def __init__(
        self,
        k1: float = 1.5,
        b: float = 0.75,
        document_fields: tuple[str, ...] = DOCUMENT_COLUMNS,
        history_item_fields: tuple[str, ...] = DOCUMENT_COLUMNS,
    ) -> None:
        if k1 < 0 or not 0 <= b <= 1:
            raise ConfigError(f"BM25 needs k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        for label, fields in (("document_fields", document_fields), ("history_item_fields", history_item_fields)):
            if not fields or set(fields) - set(S.PRODUCT_TEXT_COLUMNS):
                raise ConfigError(f"{label} must be a non-empty subset of {S.PRODUCT_TEXT_COLUMNS}, got {fields}")
        self.k1, self.b = k1, b
        self.document_fields, self.history_item_fields = tuple(document_fields), tuple(history_item_fields)
        self._index_for: tuple[pd.DataFrame, sp.csr_matrix, dict[str, int]] | None = None
        self._queries: sp.csr_matrix | None = None

    def param_grid(self) -> list[dict[str, Any]]:
        return [{}]

    def _index(self, products: pd.DataFrame) -> tuple[sp.csr_matrix, dict[str, int]]:
        if self._index_for is None or self._index_for[0] is not products:
            docs = product_documents(products, self.document_fields)
            corpus = tokenize_many(docs)
            retriever = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
            retriever.index(corpus, show_progress=False)
            sc = retriever.scores
            n_terms = len(sc["indptr"]) - 1
            # bm25s stores one column per term: weights[doc, term]
            weights = sp.csc_matrix((sc["data"], sc["indices"], sc["indptr"]), shape=(sc["num_docs"], n_terms))
            self._index_for = (products, sp.csr_matrix(weights.T, dtype=np.float32), dict(retriever.vocab_dict))
        return self._index_for[1], self._index_for[2]

    def fit(self, data: EvalData, params: dict[str, Any]) -> None:
        term_doc, vocab = self._index(data.products)
        queries = user_queries(data.train_events, data.products, data.user_ids, self.history_item_fields)
        self._queries = query_term_matrix(queries, vocab, term_doc.shape[0])

    def score(self, user_rows: np.ndarray) -> np.ndarray:
        queries, index_for = require_fitted(self._queries, self.name), require_fitted(self._index_for, self.name)
        return np.asarray((queries[user_rows] @ index_for[1]).toarray(), dtype=np.float32)
