"""CPU engine choice is a pure function of CPU flags; parallel runs keep input order; the ONNX and OpenVINO
engines match torch on a tiny random BERT built in code (no weights needed)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from recsys.encoders import factory
from recsys.encoders.openvino_engine import choose_cpu_engine
from recsys.encoders.runs import RunPool, split_runs


@pytest.mark.parametrize(("flags", "openvino", "engine"), [
    ({"avx2", "avx512f", "avx512_vnni", "amx_bf16", "amx_int8"}, True, "openvino"),  # Sapphire Rapids and later
    ({"avx2", "avx512f", "avx512_vnni", "amx_bf16", "amx_int8"}, False, "onnx-int8"),  # extra not installed
    ({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}, True, "onnx-int8"),  # bf16 without AMX tiles: not measured
    ({"avx2"}, True, "onnx-int8"),
    (set(), True, "onnx-int8"),
])
def test_choose_cpu_engine(flags: set[str], openvino: bool, engine: str) -> None:
    assert choose_cpu_engine(flags, openvino=openvino) == engine


def test_auto_tries_the_cpu_choice_first_then_the_other(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factory, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    monkeypatch.setattr(factory, "openvino_installed", lambda: True)
    assert factory.auto_cpu_engines() == ["openvino", "onnx-int8"]
    monkeypatch.setattr(factory, "cpu_flags", lambda: frozenset({"avx2"}))
    assert factory.auto_cpu_engines() == ["onnx-int8", "openvino"]
    monkeypatch.setattr(factory, "openvino_installed", lambda: False)
    assert factory.auto_cpu_engines() == ["onnx-int8"]


@pytest.mark.parametrize(("n", "run_size", "streams", "sizes"), [
    (0, 8, 2, []),
    (5, 8, 2, [3, 2]),  # fewer texts than a run: still one run per stream
    (20, 8, 2, [8, 8, 4]),
    (3, 8, 4, [1, 1, 1]),
    (9, 4, 1, [4, 4, 1]),
])
def test_split_runs(n: int, run_size: int, streams: int, sizes: list[int]) -> None:
    runs = split_runs(n, run_size, streams)
    assert [s.stop - s.start for s in runs] == sizes
    assert sum(sizes) == n and all(a.stop == b.start for a, b in zip(runs, runs[1:], strict=False))


def test_run_pool_keeps_order_across_streams_and_callers() -> None:
    pool = RunPool(2)

    def fn(texts: list[str]) -> np.ndarray:
        return np.array([[float(t), -float(t)] for t in texts], np.float32)

    texts = [str(i) for i in range(37)]
    results: list[np.ndarray] = []
    callers = [threading.Thread(target=lambda: results.append(pool.run_parallel(texts, fn, 2, 4))) for _ in range(3)]
    for c in callers:
        c.start()
    for c in callers:
        c.join()
    for out in results:
        np.testing.assert_array_equal(out[:, 0], np.arange(37))
    assert len(results) == 3


def _tiny_bert(folder: Path) -> Path:
    """A 2-layer random BERT with a word-level tokenizer that adds [CLS] and [SEP] like BERT's (so the empty
    text has tokens too): enough graph to export and compare."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", *[f"w{i}" for i in range(60)]]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    folder.mkdir(parents=True)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"pad_token": "[PAD]"}))
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(words), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=128, max_position_embeddings=64)
    BertModel(cfg).eval().save_pretrained(str(folder))
    return folder


def _torch_vectors(folder: Path, texts: list[str]) -> np.ndarray:
    import torch
    from transformers import AutoModel

    from recsys.encoders.onnx_export import _mean_pooled
    from recsys.encoders.runs import load_tokenizer

    model = _mean_pooled(AutoModel.from_pretrained(str(folder), attn_implementation="eager").eval())
    feed = load_tokenizer(folder, 32)(texts)
    with torch.no_grad():
        return model(torch.from_numpy(feed["input_ids"]), torch.from_numpy(feed["attention_mask"])).numpy()


TEXTS = ["w1 w2 w3", "w4", "w5 w6 w7 w8 w9 w10 w11 w12", "", "w1 w1 w1 w1 w2", "w30 w31 w40 w59"]


def test_openvino_engine_matches_torch_on_a_tiny_bert(tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    from recsys.encoders.openvino_engine import OpenVinoEncoder, write_openvino_folder

    src = _tiny_bert(tmp_path / "bert")
    out = tmp_path / "ov"
    out.mkdir()
    write_openvino_folder(src, out)
    enc = OpenVinoEncoder(out, name="tiny", revision="r", passage_prefix="", max_seq_length=32, streams=2)
    vecs = enc.encode(TEXTS, batch_size=2)
    cos = np.sum(vecs * _torch_vectors(src, TEXTS), axis=1)
    assert cos.min() >= 0.99, cos
    assert enc.engine == f"openvino-{enc.precision}" and enc.dim == 64
    np.testing.assert_allclose(enc.encode(TEXTS[::-1], batch_size=64)[::-1], vecs, atol=0.02)


def test_onnx_engine_runs_in_parallel_streams(tmp_path: Path) -> None:
    from recsys.encoders.onnx import OnnxEncoder
    from recsys.encoders.onnx_export import write_onnx_folder

    src = _tiny_bert(tmp_path / "bert")
    out = tmp_path / "onnx"
    out.mkdir()
    write_onnx_folder(src, out, None)  # fp32: exact up to float error
    ref = _torch_vectors(src, TEXTS)
    for streams in (1, 2):
        enc = OnnxEncoder(out, name="tiny", revision="r", engine="onnx-fp32", max_seq_length=32, streams=streams)
        np.testing.assert_allclose(enc.encode(TEXTS, batch_size=2), ref, atol=1e-4)


def test_tokenizer_pads_to_a_multiple_only_inside_the_length_cap(tmp_path: Path) -> None:
    from recsys.encoders.runs import load_tokenizer

    folder = _tiny_bert(tmp_path / "bert")
    assert load_tokenizer(folder, 32)(["w1 w2"])["input_ids"].shape == (1, 4)  # [CLS] w1 w2 [SEP]
    feed = load_tokenizer(folder, 32, pad_to_multiple_of=16)(["w1 w2", "w3"])
    assert feed["input_ids"].shape == (2, 16) and feed["attention_mask"].sum() == 7
    assert load_tokenizer(folder, 30, pad_to_multiple_of=16)(["w1 w2"])["input_ids"].shape == (1, 4)
