"""CPU engine and OpenVINO recipe choices are pure functions of CPU flags; parallel runs keep input order;
the ONNX and OpenVINO engines (int8 recipe too) match torch on a tiny random BERT built in code (no weights
needed)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from recsys.encoders import factory
from recsys.encoders.openvino_engine import choose_cpu_engine
from recsys.encoders.openvino_int8 import calibration_texts, choose_openvino_recipe
from recsys.encoders.runs import RunPool, split_runs
from recsys.errors import EncoderError


@pytest.mark.parametrize(("flags", "openvino", "engine"), [
    ({"avx2", "avx512f", "avx512_vnni", "amx_bf16", "amx_int8"}, True, "openvino"),  # Sapphire Rapids and later
    ({"avx2", "avx512f", "avx512_vnni", "amx_bf16", "amx_int8"}, False, "onnx-int8"),  # extra not installed
    ({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}, True, "onnx-int8"),  # bf16 without AMX tiles: not measured
    ({"avx2"}, True, "onnx-int8"),
    (set(), True, "onnx-int8"),
])
def test_choose_cpu_engine(flags: set[str], openvino: bool, engine: str) -> None:
    assert choose_cpu_engine(flags, openvino=openvino) == engine


@pytest.mark.parametrize(("flags", "nncf", "recipe"), [
    ({"avx512_vnni", "amx_bf16", "amx_int8"}, True, "int8"),
    ({"avx512_vnni", "amx_bf16", "amx_int8"}, False, "fp16"),  # NNCF missing: cannot build the int8 IR
    ({"avx512_vnni", "avx512_bf16"}, True, "fp16"),  # VNNI without AMX: int8 OpenVINO not measured there
    ({"avx2"}, True, "fp16"),
])
def test_choose_openvino_recipe(flags: set[str], nncf: bool, recipe: str) -> None:
    assert choose_openvino_recipe(flags, nncf=nncf) == recipe


def test_calibration_texts_are_product_texts() -> None:
    texts = calibration_texts()
    assert len(texts) == 316 and all(t.strip() for t in texts)
    assert sum("card" in t.lower() for t in texts) > 100  # the gift-card sample, not an empty or stray file


def test_openvino_folders_are_per_recipe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RECSYS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(factory, "openvino_installed", lambda: True)
    for recipe in ("int8", "fp16"):
        with pytest.raises(EncoderError, match=f"all-MiniLM-L6-v2-.*-{recipe}"):
            factory.openvino_folder("all-MiniLM-L6-v2", allow_build=False, recipe=recipe)  # type: ignore[arg-type]


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
    assert enc.engine == f"openvino-{enc.precision}" and enc.dim == 64 and not enc.int8
    np.testing.assert_allclose(enc.encode(TEXTS[::-1], batch_size=64)[::-1], vecs, atol=0.02)


def test_openvino_int8_recipe_quantizes_weight_matmuls_only(tmp_path: Path) -> None:
    pytest.importorskip("openvino", reason="the optional extra recsys[openvino] is not installed")
    pytest.importorskip("nncf", reason="the optional extra recsys[openvino] (nncf) is not installed")
    import openvino as ov

    from recsys.encoders.onnx_export import export_onnx
    from recsys.encoders.openvino_engine import IR_FILE, OpenVinoEncoder, write_openvino_folder
    from recsys.encoders.openvino_int8 import attention_matmuls

    src = _tiny_bert(tmp_path / "bert")
    calibration = [" ".join(f"w{(i * 7 + j) % 60}" for j in range(1 + i % 12)) for i in range(48)]
    out = tmp_path / "int8"
    out.mkdir()
    write_openvino_folder(src, out, "int8", max_seq_length=32, calibration=calibration)
    # In the graph as read from ONNX, attention's Q·Kᵀ and softmax·V are the MatMuls without a weight.
    export_onnx(src, tmp_path / "raw.onnx", fuse=False)
    attention = set(attention_matmuls(ov.Core().read_model(str(tmp_path / "raw.onnx"))))
    assert len(attention) == 4 and all("/attention/self/MatMul" in name for name in attention), attention
    model = ov.Core().read_model(str(out / IR_FILE))
    # A quantized MatMul reads its activation through a FakeQuantize (its int8 weight through a Multiply).
    reads_fq = {op.get_friendly_name(): any(op.input_value(i).get_node().get_type_name() == "FakeQuantize"
                                            for i in range(2))
                for op in model.get_ops() if op.get_type_name() == "MatMul"}
    assert len(reads_fq) == 2 * 8 and attention <= set(reads_fq)
    assert {name for name, fq in reads_fq.items() if not fq} == attention
    enc = OpenVinoEncoder(out, name="tiny", revision="r", max_seq_length=32, streams=2)
    assert enc.int8 and enc.engine == "openvino-int8"
    cos = np.sum(enc.encode(TEXTS, batch_size=2) * _torch_vectors(src, TEXTS), axis=1)
    assert cos.min() >= 0.98, cos


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
