"""ONNX Runtime engine: a folder made by `onnx_export.write_onnx_folder`, run with plain onnxruntime.

Tokenizes with the model's own `tokenizer.json` (same truncation length as the torch engine), runs one
session whose graph already mean-pools and normalises, and uses every core the process may run on.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from recsys.encoders.base import Encoder, TextKind
from recsys.encoders.onnx_export import ONNX_FILE
from recsys.errors import EncoderError

__all__ = ["OnnxEncoder", "usable_cores"]


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class OnnxEncoder(Encoder):
    def __init__(
        self,
        folder: Path,
        *,
        name: str,
        revision: str,
        engine: str = "onnx-int8",
        query_prefix: str = "",
        passage_prefix: str = "",
        max_seq_length: int = 256,
        threads: int | None = None,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_file, tok_file = folder / ONNX_FILE, folder / "tokenizer.json"
        for f in (model_file, tok_file):
            if not f.is_file():
                raise EncoderError(f"the ONNX encoder folder {folder} has no {f.name}; rebuild it")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or usable_cores()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(str(model_file), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # re-raised typed: onnxruntime raises its own exception types
            raise EncoderError(f"onnxruntime could not load {model_file}: {exc}; delete {folder} and rebuild") from exc
        self._tok = Tokenizer.from_file(str(tok_file))
        self._tok.enable_truncation(max_length=max_seq_length)
        pad_token = _pad_token(folder)
        pad_id = self._tok.token_to_id(pad_token)
        if pad_id is None:
            raise EncoderError(f"{tok_file} does not know its pad token {pad_token!r}")
        self._tok.enable_padding(pad_id=pad_id, pad_token=pad_token)
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.name, self.revision, self.engine = name, revision, engine
        self.dim = int(self._session.get_outputs()[0].shape[-1])
        self.max_seq_length = max_seq_length
        self._prefix = {"query": query_prefix, "passage": passage_prefix}

    def _encode_sorted(self, texts: list[str], kind: TextKind, batch_size: int, progress: bool) -> np.ndarray:
        prefix = self._prefix[kind]
        out = np.empty((len(texts), self.dim), np.float32)
        # Small runs keep each int8 layer's activations in cache: on 2 cores MiniLM int8 encodes about 20%
        # more texts/s in runs of 8 than of 64 (benchmarks/README.md, encoder engines).
        batch_size = min(batch_size, ONNX_RUN_BATCH)
        for start in range(0, len(texts), batch_size):
            chunk = [prefix + t for t in texts[start : start + batch_size]]
            enc = self._tok.encode_batch(chunk)
            feed = {"input_ids": np.asarray([e.ids for e in enc], np.int64),
                    "attention_mask": np.asarray([e.attention_mask for e in enc], np.int64)}
            if "token_type_ids" in self._inputs:
                feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
            out[start : start + len(chunk)] = self._session.run(None, feed)[0]
        return out


#: Texts per onnxruntime run (see `_encode_sorted`).
ONNX_RUN_BATCH = 8


def _pad_token(folder: Path) -> str:
    cfg = folder / "tokenizer_config.json"
    if cfg.is_file():
        pad = json.loads(cfg.read_text(encoding="utf-8")).get("pad_token")
        if isinstance(pad, dict):
            pad = pad.get("content")
        if isinstance(pad, str):
            return pad
    return "[PAD]"
