"""Encoder names resolve to specs; fine-tuned folders inherit their base model's prompts; engines are validated."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from recsys.encoders import make_encoder
from recsys.encoders.factory import query_engine
from recsys.encoders.models import E5_NAME, MINILM_NAME, model_spec
from recsys.errors import EncoderError

VOCAB = ["[UNK]", "query", "passage", ":", "coffee", "tea"]
# One-hot-ish rows, so a mean-pooled sentence vector is easy to compute by hand.
WEIGHTS = np.array([[0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 2]], np.float32)


def _tiny_finetuned(folder: Path, base: str) -> Path:
    """A StaticEmbedding sentence-transformers folder with a `recsys finetune` marker, built in code."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    model = SentenceTransformer(modules=[StaticEmbedding(tok, embedding_weights=WEIGHTS)], device="cpu")
    model.save(str(folder))
    (folder / "recsys_model.json").write_text(json.dumps({"base": base, "version": "v1"}))
    return folder


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def test_builtin_names_and_aliases() -> None:
    assert model_spec("minilm").name == MINILM_NAME
    e5 = model_spec("multilingual-e5-small")
    assert (e5.name, e5.query_prefix, e5.passage_prefix) == (E5_NAME, "query: ", "passage: ")
    assert model_spec(MINILM_NAME).query_prefix == ""


def test_unknown_name_and_engine_are_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(EncoderError, match="unknown encoder 'no-such-model'"):
        make_encoder("no-such-model")
    with pytest.raises(EncoderError, match="unknown encoder engine 'tensorrt'"):
        make_encoder("hashing-8", engine="tensorrt")  # type: ignore[arg-type]
    with pytest.raises(EncoderError, match="no recsys_model.json"):
        make_encoder(str(tmp_path))


def test_query_engine_never_exports_inside_a_request() -> None:
    assert query_engine("onnx-int8") == "auto"  # ONNX only when already prepared on this machine
    assert query_engine("openvino-bf16") == "auto"
    assert query_engine("torch-cpu-fp32") == "torch"
    assert query_engine("numpy") == "torch"


@pytest.mark.parametrize("base", [E5_NAME, "e5"])
def test_finetuned_folder_uses_base_prompts(tmp_path: Path, base: str) -> None:
    folder = _tiny_finetuned(tmp_path / "ft", base)
    enc = make_encoder(str(folder))
    marker_hash = hashlib.sha1((folder / "recsys_model.json").read_bytes()).hexdigest()[:12]
    assert enc.describe() == {"name": str(folder), "dim": 4, "revision": marker_hash, "engine": "torch-cpu-fp32"}
    q, p = enc.encode(["coffee"], kind="query")[0], enc.encode(["coffee"], kind="passage")[0]
    # "query: coffee" -> tokens query, :, coffee -> mean of rows 1, 3, 4
    np.testing.assert_allclose(q, _unit(WEIGHTS[[1, 3, 4]].mean(0)), atol=1e-6)
    np.testing.assert_allclose(p, _unit(WEIGHTS[[2, 3, 4]].mean(0)), atol=1e-6)


def test_finetuned_minilm_has_no_prompts(tmp_path: Path) -> None:
    enc = make_encoder(str(_tiny_finetuned(tmp_path / "ft", MINILM_NAME)))
    np.testing.assert_allclose(enc.encode(["tea"], kind="query")[0], [0, 0, 0, 1], atol=1e-6)


def test_finetuned_folder_has_no_onnx_engine(tmp_path: Path) -> None:
    folder = _tiny_finetuned(tmp_path / "ft", E5_NAME)
    with pytest.raises(EncoderError, match="no ONNX engine"):
        make_encoder(str(folder), engine="onnx-int8")
    with pytest.raises(EncoderError, match="no OpenVINO engine"):
        make_encoder(str(folder), engine="openvino")
    assert make_encoder(str(folder), engine="auto").engine == "torch-cpu-fp32"


def test_finetuned_marker_needs_a_known_base(tmp_path: Path) -> None:
    folder = _tiny_finetuned(tmp_path / "ft", "bert-base-uncased")
    with pytest.raises(EncoderError, match="names base 'bert-base-uncased'"):
        make_encoder(str(folder))
