"""Micro-batching: concurrent encode calls of a server share one engine call.

A free-text request encodes one or two short texts. Encoded one request at a time, a Transformer pays its
fixed per-call cost (graph dispatch, padding, thread start-up) for every request, and the requests queue
on it. `MicroBatchEncoder` wraps any engine: while more than one caller is encoding, the first to arrive
becomes the leader, waits up to `max_wait_s` (or until `max_batch` texts are pending), and runs one engine
call for every pending text of the same kind; each caller gets its own rows back. A caller alone never
waits, and a call with `max_batch` texts or more runs on its own. Results are the engine's own vectors:
a text is encoded the same in a batch as alone, up to the engine's padding arithmetic.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from recsys.encoders.base import Encoder, TextKind
from recsys.errors import EncoderError

__all__ = ["MicroBatchEncoder"]


@dataclass
class _Job:
    texts: list[str]
    kind: TextKind
    done: threading.Event = field(default_factory=threading.Event)
    result: np.ndarray | None = None
    error: BaseException | None = None


class MicroBatchEncoder(Encoder):
    def __init__(self, inner: Encoder, *, max_batch: int = 32, max_wait_s: float = 0.002) -> None:
        self.inner = inner
        self.name, self.dim, self.revision, self.engine = inner.name, inner.dim, inner.revision, inner.engine
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._lock = threading.Lock()
        self._pending: list[_Job] = []
        self._leading = False
        self._in_flight = 0
        #: Engine calls and texts that went through them (for metrics and tests).
        self.calls = 0
        self.batched_texts = 0

    def _encode_sorted(self, texts: list[str], kind: TextKind, batch_size: int, progress: bool) -> np.ndarray:
        if len(texts) >= self.max_batch:
            return self.inner._encode_sorted(texts, kind, batch_size, progress)
        job = _Job(texts, kind)
        with self._lock:
            self._pending.append(job)
            self._in_flight += 1
            lead = not self._leading
            self._leading = self._leading or lead
        try:
            if lead:
                self._lead(batch_size)
            job.done.wait()
        finally:
            with self._lock:
                self._in_flight -= 1
        if job.error is not None:
            raise job.error
        if job.result is None:
            raise EncoderError("micro-batch finished without a result for a caller")
        return job.result

    def _lead(self, batch_size: int) -> None:
        deadline = time.monotonic() + self.max_wait_s
        while time.monotonic() < deadline:
            with self._lock:
                waiting = sum(len(j.texts) for j in self._pending)
                if self._in_flight <= 1 or waiting >= self.max_batch:
                    break
            time.sleep(self.max_wait_s / 10)
        with self._lock:
            jobs, self._pending, self._leading = self._pending, [], False
        for kind in {j.kind for j in jobs}:
            self._run([j for j in jobs if j.kind == kind], kind, batch_size)

    def _run(self, jobs: list[_Job], kind: TextKind, batch_size: int) -> None:
        merged = sorted({t for j in jobs for t in j.texts}, key=len, reverse=True)
        try:
            vecs = self.inner._encode_sorted(merged, kind, max(batch_size, len(merged)), False)
            row = {t: i for i, t in enumerate(merged)}
            for j in jobs:
                j.result = vecs[[row[t] for t in j.texts]]
        except BaseException as exc:  # handed to every caller of the batch, which re-raises it
            for j in jobs:
                j.error = exc
        finally:
            self.calls += 1
            self.batched_texts += len(merged)
            for j in jobs:
                j.done.set()
