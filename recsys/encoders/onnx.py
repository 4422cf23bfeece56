"""ONNX Runtime engine: a folder made by `onnx_export.write_onnx_folder`, run with plain onnxruntime.

Tokenizes with the model's own `tokenizer.json` (same truncation length as the torch engine) and runs
one session whose graph already mean-pools and normalises. By default it runs one single-threaded run
per usable core side by side (`runs.RunPool`); ``streams=1`` runs one run at a time on every core.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recsys.encoders.base import Encoder, TextKind
from recsys.encoders.onnx_export import ONNX_FILE
from recsys.encoders.runs import RunPool, load_tokenizer, usable_cores
from recsys.errors import EncoderError

__all__ = ["OnnxEncoder", "ONNX_RUN_BATCH"]

#: Texts per onnxruntime run. Small runs keep each int8 layer's activations in cache: on 2 cores MiniLM
#: int8 encodes about 20% more texts/s in runs of 8 than of 64 (benchmarks/README.md, encoder engines).
ONNX_RUN_BATCH = 8


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
        streams: int | None = None,
        run_batch: int = ONNX_RUN_BATCH,
    ) -> None:
        import onnxruntime as ort

        model_file = folder / ONNX_FILE
        if not model_file.is_file():
            raise EncoderError(f"the ONNX encoder folder {folder} has no {model_file.name}; rebuild it")
        cores = usable_cores()
        self._runs = RunPool(streams or cores)
        opts = ort.SessionOptions()
        # session.run is thread-safe: each stream's thread runs its own run on `threads` cores.
        opts.intra_op_num_threads = max(1, cores // self._runs.streams)
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(str(model_file), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # re-raised typed: onnxruntime raises its own exception types
            raise EncoderError(f"onnxruntime could not load {model_file}: {exc}; delete {folder} and rebuild") from exc
        self._feed = load_tokenizer(folder, max_seq_length)
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.name, self.revision, self.engine = name, revision, engine
        self.dim = int(self._session.get_outputs()[0].shape[-1])
        self.max_seq_length = max_seq_length
        self.run_batch = run_batch
        self._prefix = {"query": query_prefix, "passage": passage_prefix}

    def _run(self, texts: list[str]) -> np.ndarray:
        feed = self._feed(texts)
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(feed["input_ids"])
        return np.asarray(self._session.run(None, feed)[0], np.float32)

    def _encode_sorted(self, texts: list[str], kind: TextKind, batch_size: int, progress: bool) -> np.ndarray:
        prefix = self._prefix[kind]
        return self._runs.run_parallel([prefix + t for t in texts], self._run, self.dim,
                                       min(batch_size, self.run_batch))
