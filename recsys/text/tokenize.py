"""One tokenizer for Chinese and English text, used by BM25, keyword targeting and interest terms.

`tokenize(text)` NFKC-normalises and lowercases the text, splits it into runs of Han characters and
runs of everything else, and then
- segments each Han run with jieba (precise mode, HMM on) and drops bm25s's Chinese stopwords;
- splits the rest with bm25s's own English pattern (words of two or more word characters) and drops
  bm25s's English stopwords, so English-only text tokenizes exactly as `bm25s.tokenize(..., "en")`.
No stemming. jieba's dictionary loads once, on the first Chinese text, with its logging silenced.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

from recsys.text.lang import HAN_CLASS, normalize

__all__ = ["tokenize", "tokenize_many", "STOPWORDS"]

_RUN = re.compile(f"([{HAN_CLASS}]+)")
_HAN_RUN = re.compile(f"[{HAN_CLASS}]+")
_EN_WORD = re.compile(r"(?u)\b\w\w+\b")  # bm25s's default token pattern


def _bm25s_stopwords() -> ModuleType:
    """bm25s's stopword lists (a module of tuple literals) without importing the `bm25s` package, whose
    `__init__` loads numba and llvmlite: ~20 MB of private heap and 60 MB RSS in every server worker,
    which tokenizes with these lists and nothing else of bm25s."""
    if "bm25s.stopwords" in sys.modules:
        return sys.modules["bm25s.stopwords"]
    spec = importlib.util.find_spec("bm25s")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("bm25s is not installed; install the project's dependencies (pip install -e .)")
    path = Path(next(iter(spec.submodule_search_locations))) / "stopwords.py"
    words = importlib.util.spec_from_file_location("recsys.text._bm25s_stopwords", path)
    if words is None or words.loader is None:
        raise ImportError(f"cannot read bm25s's stopwords from {path}")
    module = importlib.util.module_from_spec(words)
    words.loader.exec_module(module)
    return module


_STOPWORDS = _bm25s_stopwords()
_EN_STOP = frozenset(_STOPWORDS.STOPWORDS_EN)
_ZH_STOP = frozenset(_STOPWORDS.STOPWORDS_CHINESE)
STOPWORDS: frozenset[str] = _EN_STOP | _ZH_STOP


@functools.cache
def _jieba() -> Any:
    """jieba's default tokenizer with its dictionary loaded and its start-up chatter silenced."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    logging.getLogger("jieba").setLevel(logging.WARNING)
    jieba.initialize()
    return jieba.dt


def _han_tokens(run: str) -> list[str]:
    return [t for t in _jieba().lcut(run, cut_all=False, HMM=True) if t.strip() and t not in _ZH_STOP]


def tokenize(text: str) -> list[str]:
    """Tokens of one text in reading order: jieba words for Chinese, lowercase words for the rest."""
    if not text:
        return []
    s = normalize(text).lower()
    if not _HAN_RUN.search(s):
        return [t for t in _EN_WORD.findall(s) if t not in _EN_STOP]
    out: list[str] = []
    for i, part in enumerate(_RUN.split(s)):
        if not part:
            continue
        if i % 2:  # re.split with one group: odd pieces are the Han runs
            out.extend(_han_tokens(part))
        else:
            out.extend(t for t in _EN_WORD.findall(part) if t not in _EN_STOP)
    return out


def tokenize_many(texts: Iterable[str]) -> list[list[str]]:
    return [tokenize(t) for t in texts]
