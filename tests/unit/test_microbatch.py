"""Micro-batching: concurrent callers share engine calls and get exactly their own vectors back."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from recsys.encoders import make_encoder
from recsys.encoders.base import Encoder, TextKind
from recsys.encoders.batching import MicroBatchEncoder
from recsys.errors import EncoderError


class _Slow(Encoder):
    """The hashing encoder behind a per-call pause (the fixed cost batching saves)."""

    def __init__(self, fail: bool = False) -> None:
        self.inner = make_encoder("hashing-64")
        self.name, self.dim, self.engine = "slow", 64, "test"
        self.calls: list[int] = []
        self.fail = fail
        self.gate = threading.Event()

    def _encode_sorted(self, texts: list[str], kind: TextKind, batch_size: int, progress: bool) -> np.ndarray:
        self.calls.append(len(texts))
        self.gate.wait(2)
        if self.fail:
            raise EncoderError("engine down")
        return self.inner._encode_sorted(texts, kind, batch_size, progress)


def _run(enc: Encoder, texts: list[list[str]]) -> list[object]:
    out: list[object] = [None] * len(texts)

    def call(i: int) -> None:
        try:
            out[i] = enc.encode(texts[i], kind="query")
        except EncoderError as exc:
            out[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    return [t.join() for t in threads] and out


def test_concurrent_callers_share_calls_and_get_their_own_rows():
    slow = _Slow()
    enc = MicroBatchEncoder(slow, max_batch=64, max_wait_s=0.2)
    texts = [[f"red mug {i}", "coffee"] for i in range(12)]
    timer = threading.Timer(0.3, slow.gate.set)  # the first call blocks until others have queued
    timer.start()
    got = _run(enc, texts)
    alone = make_encoder("hashing-64")
    for t, v in zip(texts, got, strict=True):
        np.testing.assert_allclose(v, alone.encode(t, kind="query"), atol=1e-6)
    assert len(slow.calls) < len(texts)  # fewer engine calls than callers
    assert enc.batched_texts == sum(slow.calls)


def test_a_caller_alone_does_not_wait_and_errors_reach_every_caller(monkeypatch: pytest.MonkeyPatch):
    import recsys.encoders.batching as batching

    slow = _Slow()
    slow.gate.set()
    enc = MicroBatchEncoder(slow, max_wait_s=5.0)
    with monkeypatch.context() as m:
        m.setattr(batching.time, "sleep", lambda _s: pytest.fail("a lone caller waited for company"))
        enc.encode(["one text"], kind="query")
    assert slow.calls == [1]
    failing = _Slow(fail=True)
    failing.gate.set()
    got = _run(MicroBatchEncoder(failing, max_wait_s=0.05), [["a"], ["b"], ["c"]])
    assert all(isinstance(g, EncoderError) for g in got)
    with pytest.raises(EncoderError, match="engine down"):
        MicroBatchEncoder(failing).encode(["x"])
