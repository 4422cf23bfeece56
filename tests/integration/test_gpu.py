"""CUDA path of the encoder: fp16 on the GPU agrees with fp32 on the CPU. Skipped without a GPU."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.gpu, pytest.mark.slow,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_cuda_fp16_matches_cpu_fp32():
    from recsys.encoders.sentence import SentenceTransformerEncoder

    texts = ["Starbucks gift card", "running shoes for trail", "a mystery novel in paperback"] * 20
    gpu = SentenceTransformerEncoder(device="auto", max_seq_length=128)
    cpu = SentenceTransformerEncoder(device="cpu", max_seq_length=128)
    assert gpu.engine == "torch-cuda-fp16"
    cos = np.sum(gpu.encode(texts) * cpu.encode(texts), axis=1)
    assert cos.min() > 0.99
