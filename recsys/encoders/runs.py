"""What the ONNX Runtime and OpenVINO engines share: the tokenizer of an exported folder, and running the
length-sorted texts as small runs on several cores at once.

On 2 cores, two single-threaded runs side by side encode more texts per second than one run on two
threads (no barrier between the threads of one matrix product, and a core that another process holds
for a moment delays only its own run), most of all while other jobs share the machine. A caller of
`run_parallel` gets results in input order, and several callers may share one `RunPool`.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from recsys.errors import EncoderError

__all__ = ["usable_cores", "load_tokenizer", "Feed", "split_runs", "RunPool"]

#: Model inputs of one run: name → (texts, tokens) int64 array.
Feed = dict[str, np.ndarray]


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def load_tokenizer(folder: Path, max_seq_length: int, pad_to_multiple_of: int | None = None
                   ) -> Callable[[list[str]], Feed]:
    """A function from texts to one padded feed (input_ids, attention_mask), truncating like the torch engine.

    `pad_to_multiple_of` rounds each run's length up (only when `max_seq_length` is a multiple of it, so
    padding never passes the model's positions); padded tokens are masked out, so vectors do not change.
    """
    from tokenizers import Tokenizer

    tok_file = folder / "tokenizer.json"
    if not tok_file.is_file():
        raise EncoderError(f"the encoder folder {folder} has no {tok_file.name}; rebuild it")
    tok = Tokenizer.from_file(str(tok_file))
    tok.enable_truncation(max_length=max_seq_length)
    pad_token = _pad_token(folder)
    pad_id = tok.token_to_id(pad_token)
    if pad_id is None:
        raise EncoderError(f"{tok_file} does not know its pad token {pad_token!r}")
    multiple = pad_to_multiple_of if pad_to_multiple_of and max_seq_length % pad_to_multiple_of == 0 else None
    tok.enable_padding(pad_id=pad_id, pad_token=pad_token, pad_to_multiple_of=multiple)
    lock = threading.Lock()  # a Rust tokenizer raises "Already borrowed" when two threads share it

    def feed(texts: list[str]) -> Feed:
        with lock:
            enc = tok.encode_batch(texts)
        return {"input_ids": np.asarray([e.ids for e in enc], np.int64),
                "attention_mask": np.asarray([e.attention_mask for e in enc], np.int64)}

    return feed


def split_runs(n: int, run_size: int, streams: int) -> list[slice]:
    """Consecutive slices of at most `run_size` texts, at least `streams` of them when there are that many
    texts, so every stream gets work."""
    if n == 0:
        return []
    size = max(1, min(run_size, -(-n // max(1, streams))))
    return [slice(s, min(s + size, n)) for s in range(0, n, size)]


class RunPool:
    """Runs `fn(texts)` on slices of a text list in `streams` threads; returns the stacked (n, dim) result."""

    def __init__(self, streams: int) -> None:
        self.streams = max(1, streams)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def run_parallel(self, texts: list[str], fn: Callable[[list[str]], np.ndarray], dim: int,
                     run_size: int) -> np.ndarray:
        out = np.empty((len(texts), dim), np.float32)
        runs = split_runs(len(texts), run_size, self.streams)
        if self.streams == 1 or len(runs) <= 1:
            for sl in runs:
                out[sl] = fn(texts[sl])
            return out

        def one(sl: slice) -> np.ndarray:
            return fn(texts[sl])

        for sl, vecs in zip(runs, self._executor().map(one, runs), strict=True):
            out[sl] = vecs
        return out

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.streams, thread_name_prefix="recsys-encode")
            return self._pool


def _pad_token(folder: Path) -> str:
    cfg = folder / "tokenizer_config.json"
    if cfg.is_file():
        pad = json.loads(cfg.read_text(encoding="utf-8")).get("pad_token")
        if isinstance(pad, dict):
            pad = pad.get("content")
        if isinstance(pad, str):
            return pad
    return "[PAD]"
