"""ONNX int8 and OpenVINO engines on real product texts: vectors agree with torch fp32, and the engines are
interchangeable.

Uses the encoder cache (``$RECSYS_CACHE_DIR`` or ``~/.cache/recsys``); the first run exports the model
there (the setup step `recsys encoders prepare` normally has). The OpenVINO cases skip without the
optional extra; they run the IR recipe this CPU gets (int8 weight MatMuls where AMX has int8 tiles).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.encoders import Encoder, Engine, make_encoder
from recsys.encoders.factory import openvino_recipe
from recsys.encoders.openvino_engine import openvino_installed

from ..conftest import SAMPLE

pytestmark = pytest.mark.slow

MODELS = ["all-MiniLM-L6-v2", "multilingual-e5-small"]
CPU_ENGINES = ["onnx-int8", pytest.param("openvino", marks=pytest.mark.skipif(
    not openvino_installed(), reason="the optional extra recsys[openvino] is not installed"))]


@pytest.fixture(scope="module")
def product_texts_sample() -> list[str]:
    from recsys.data.dataset import load_dataset
    from recsys.text.builders import product_texts

    texts = list(dict.fromkeys(product_texts(load_dataset(SAMPLE).products)))
    rng = np.random.default_rng(7)
    return [texts[i] for i in rng.permutation(len(texts))[:96]]


def _pair(name: str, engine: Engine = "onnx-int8") -> tuple[Encoder, Encoder]:
    return make_encoder(name, device="cpu", engine="torch"), make_encoder(name, device="cpu", engine=engine)


@pytest.mark.parametrize("engine", CPU_ENGINES)
@pytest.mark.parametrize("name", MODELS)
def test_cpu_engine_matches_torch_fp32_on_real_texts(name: str, engine: Engine, product_texts_sample: list[str]
                                                     ) -> None:
    torch_enc, onnx_enc = _pair(name, engine)
    for kind in ("passage", "query"):
        fp32 = torch_enc.encode(product_texts_sample, kind=kind)
        cos = np.sum(fp32 * onnx_enc.encode(product_texts_sample, kind=kind), axis=1)
        assert cos.mean() >= 0.99, (kind, cos.mean())
        assert cos.min() >= 0.95, (kind, cos.min())


@pytest.mark.parametrize("engine", CPU_ENGINES)
@pytest.mark.parametrize("name", MODELS)
def test_engines_describe_the_same_model(name: str, engine: Engine) -> None:
    torch_enc, onnx_enc = _pair(name, engine)
    t, o = torch_enc.describe(), onnx_enc.describe()
    assert (t["name"], t["dim"], t["revision"]) == (o["name"], o["dim"], o["revision"]) == (name, 384, t["revision"])
    assert t["engine"] == "torch-cpu-fp32"
    if engine == "onnx-int8":
        assert o["engine"] == "onnx-int8"
    else:  # the IR recipe this CPU gets: int8 weight MatMuls with AMX int8 tiles, else fp16 weights
        assert o["engine"] == "openvino-int8" if openvino_recipe() == "int8" else o["engine"] in (
            "openvino-bf16", "openvino-f32")


def test_batch_companions_barely_move_vectors() -> None:
    # Dynamic int8 quantizes activations with one scale per batch, so a text's vector depends a little
    # on the texts batched with it (and on padding); it must stay the same direction. The empty text
    # (two special tokens) moves most: measured 0.974 between batch modes, non-empty texts > 0.99.
    enc = make_encoder("all-MiniLM-L6-v2", device="cpu", engine="onnx-int8")
    ref = make_encoder("all-MiniLM-L6-v2", device="cpu", engine="torch")
    texts = ["", "gift card", "a much longer text about a restaurant gift card for a birthday dinner"]
    one_by_one = np.stack([enc.encode([t], batch_size=1)[0] for t in texts])
    batched = enc.encode(texts, batch_size=3)
    fp32 = ref.encode(texts)
    for a, b in ((one_by_one, batched), (one_by_one, fp32), (batched, fp32)):
        cos = np.sum(a * b, axis=1)
        assert cos[0] > 0.96 and cos[1:].min() > 0.99, cos
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)


def test_index_built_with_torch_answers_onnx_queries(tmp_path: Path) -> None:
    from recsys.build.pipeline import BuildOptions, build_index
    from recsys.data.dataset import load_dataset, make_dataset
    from recsys.recommender import Recommender

    products = load_dataset(SAMPLE).products.head(300)
    torch_enc = make_encoder("all-MiniLM-L6-v2", device="cpu", engine="torch")
    build_index(make_dataset(products, None, "gift-cards-300"), tmp_path / "i", torch_enc, BuildOptions(progress=False))
    by_torch = Recommender.load(tmp_path / "i")
    by_onnx = Recommender(by_torch.art, encoder=make_encoder("all-MiniLM-L6-v2", device="cpu", engine="onnx-int8"))
    for query in (["starbucks coffee card"], ["gift card for a pizza restaurant"], ["amazon egift card birthday"]):
        top_t = [r.product_id for r in by_torch.for_text(query, k=5).results]
        top_o = [r.product_id for r in by_onnx.for_text(query, k=5).results]
        assert top_t[0] == top_o[0]
        assert len(set(top_t) & set(top_o)) >= 4
