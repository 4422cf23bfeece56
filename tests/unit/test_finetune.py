"""`recsys finetune`: pair building (known answers), duplicate-free batching, and training end to end.

Training runs on a tiny static-embedding model built in code (milliseconds, no weights); the real
MiniLM run is `slow` and the CUDA path `gpu`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.data.dataset import make_dataset
from recsys.encoders.finetune import (
    MARKER_FILE,
    PairOptions,
    TrainOptions,
    finetune_dataset,
    no_duplicate_batches,
    resolve_base,
    sample_pairs,
    training_pairs,
)
from recsys.errors import ConfigError, EncoderError
from tests.conftest import _ts, tiny_frames

PASSAGE_C2 = "burr coffee grinder. Kitchen > Coffee"


def _events(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame({"user_id": [r[0] for r in rows], "product_id": [r[1] for r in rows],
                         "event_type": [r[2] for r in rows], "timestamp": [_ts(r[3]) for r in rows],
                         "rating": [r[4] for r in rows], "text": [r[5] for r in rows]})


def test_pairs_on_tiny_data_are_the_known_next_steps():
    products, events = tiny_frames()
    pairs = training_pairs(products, events)
    got = list(zip(pairs["user_id"], pairs["product_id"], strict=True))
    # u_hater's 1-star grinder is skipped, so the novel has no history; u_book, u_neg, u_search have one step
    assert got == [("u_coffee", "c2"), ("u_run", "r2"), ("u_x1", "c3"), ("u_x2", "c3"), ("u_x3", "b3")]
    first = pairs.iloc[0]
    assert first["anchor"] == "espresso coffee beans dark roast. great espresso coffee"
    assert first["positive"] == PASSAGE_C2


def test_anchor_is_most_recent_first_and_keeps_search_text():
    products, _ = tiny_frames()
    events = _events([
        ("u", "b1", "purchase", 1, None, ""),
        ("u", "r1", "purchase", 2, None, ""),
        ("u", None, "search", 3, None, "coffee for espresso"),
        ("u", "c1", "review", 4, 5.0, "nice beans"),
        ("u", "c2", "purchase", 5, None, ""),
    ])
    pairs = training_pairs(products, events, PairOptions(history_items=2, history_texts=1))
    assert pairs["product_id"].tolist() == ["r1", "c1", "c2"]
    assert pairs["anchor"].iloc[1] == "lightweight running shoes. mystery novel paperback. coffee for espresso"
    assert pairs["anchor"].iloc[2] == "espresso coffee beans dark roast. lightweight running shoes. nice beans"


def test_repeats_low_ratings_and_unknown_products_are_not_targets():
    products, _ = tiny_frames()
    events = _events([
        ("u", "c1", "purchase", 1, None, ""),
        ("u", "c1", "purchase", 2, None, ""),  # repeat: evaluation excludes seen items
        ("u", "c2", "review", 3, 2.0, "meh"),  # below min_rating: neither target nor history
        ("u", "zz", "purchase", 4, None, ""),  # not in the catalogue
        ("u", "c3", "purchase", 5, None, ""),
    ])
    pairs = training_pairs(products, events)
    assert pairs["product_id"].tolist() == ["c3"]
    assert pairs["anchor"].iloc[0] == "espresso coffee beans dark roast"
    assert training_pairs(products, events, PairOptions(min_rating=1.0))["product_id"].tolist() == ["c2", "c3"]


def test_pair_options_are_checked():
    with pytest.raises(ConfigError, match="history_items"):
        PairOptions(history_items=0, history_texts=0)
    with pytest.raises(ConfigError, match="batch_size"):
        TrainOptions(batch_size=1)


def test_batches_never_repeat_a_product_and_drop_singletons():
    keys = np.array(["a", "a", "b", "b", "c", "a"], dtype=object)
    batches = no_duplicate_batches(keys, batch_size=3, seed=1)
    assert [sorted(keys[b]) for b in batches] == [["a", "b", "c"], ["a", "b"]]  # the third "a" is left alone
    assert len(set(np.concatenate(batches).tolist())) == 5
    assert no_duplicate_batches(np.array(["x"] * 5, dtype=object), batch_size=4) == []
    again = no_duplicate_batches(keys, batch_size=3, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(batches, again, strict=True))


def test_sample_pairs_is_seeded_and_keeps_order():
    frame = pd.DataFrame({"x": range(100)})
    a, b = sample_pairs(frame, 10, seed=3), sample_pairs(frame, 10, seed=3)
    assert a["x"].tolist() == b["x"].tolist() and len(a) == 10 and a["x"].is_monotonic_increasing
    assert sample_pairs(frame, None) is frame


def test_unknown_base_is_an_encoder_error(tmp_path: Path):
    with pytest.raises(EncoderError, match="modules.json"):
        resolve_base(str(tmp_path))


def _static_model(tmp_path: Path) -> Path:
    """A tiny sentence-transformers folder: a WordLevel vocabulary over the tiny data, random 16-d vectors."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from tokenizers import Tokenizer, models, pre_tokenizers

    products, events = tiny_frames()
    words = " ".join([*products["title"], *products["category"], *events["text"].fillna("")]).lower()
    vocab = {"[UNK]": 0, "[PAD]": 1} | {w: i + 2 for i, w in enumerate(sorted(set(words.replace(">", " ").split())))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.normalizer = __import__("tokenizers").normalizers.Lowercase()
    weights = np.random.default_rng(0).normal(size=(len(vocab), 16)).astype(np.float32)
    model = SentenceTransformer(modules=[StaticEmbedding(tok, embedding_weights=weights)], device="cpu")
    folder = tmp_path / "static"
    model.save(str(folder))
    return folder


def test_finetune_writes_a_versioned_loadable_folder_and_lowers_the_loss(tmp_path: Path):
    from recsys.encoders.sentence import SentenceTransformerEncoder

    products, events = tiny_frames()
    ds = make_dataset(products, events, "tiny")
    base = _static_model(tmp_path)
    out = tmp_path / "models"
    folder, marker = finetune_dataset(ds, out, base=str(base), options=TrainOptions(
        epochs=30, batch_size=4, lr=0.05, warmup_ratio=0.0, device="cpu"))
    assert folder.parent == out and (out / "current").resolve() == folder.resolve()
    assert json.loads((folder / MARKER_FILE).read_text())["version"] == folder.name == marker["version"]
    assert marker["base"] == str(base) and marker["data_fingerprint"] == ds.fingerprint()
    stats = marker["train"]["stats"]
    assert stats["pairs"] == 5 and stats["loss_last"] < stats["loss_first"]
    assert not any(p.name.startswith(".tmp-") for p in out.iterdir())
    enc = SentenceTransformerEncoder(folder, name=str(folder), device="cpu")
    vecs = enc.encode(["espresso coffee beans dark roast", "burr coffee grinder"])
    assert vecs.shape == (2, 16) and np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)


def test_finetune_on_a_split_uses_only_its_train_part(tmp_path: Path):
    products, events = tiny_frames()
    ds = make_dataset(products, events, "tiny")
    # last-day: every user's last day is test, so only users with three distinct days keep pairs here
    with pytest.raises(ConfigError, match="last-day train split"):
        finetune_dataset(ds, tmp_path / "m", base=str(_static_model(tmp_path)), split="last-day",
                         options=TrainOptions(device="cpu"))
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())


@pytest.mark.slow
def test_finetune_bundled_minilm_for_a_few_steps(tmp_path: Path):
    products, events = tiny_frames()
    folder, marker = finetune_dataset(make_dataset(products, events, "tiny"), tmp_path / "models",
                                      options=TrainOptions(epochs=2, batch_size=4, device="cpu"))
    keys = training_pairs(products, events)["product_id"].to_numpy(dtype=object)
    steps = sum(len(no_duplicate_batches(keys, 4, seed=e)) for e in range(2))
    assert marker["base"] == "all-MiniLM-L6-v2" and marker["train"]["stats"]["steps"] == steps > 0
    assert marker["train"]["options"]["max_seq_length"] == 128  # the bundled encoder's cap, saved with it
    from recsys.encoders import make_encoder

    enc = make_encoder(str(folder), device="cpu")  # the path `recsys build --encoder FOLDER` takes
    assert enc.name == str(folder) and enc.dim == 384 and enc._model.max_seq_length == 128
    vecs = enc.encode(["burr coffee grinder"])
    assert vecs.shape == (1, 384)


torch = pytest.importorskip("torch")


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_finetune_on_cuda(tmp_path: Path):
    products, events = tiny_frames()
    _, marker = finetune_dataset(make_dataset(products, events, "tiny"), tmp_path / "models",
                                 options=TrainOptions(epochs=1, batch_size=4, device="cuda"))
    assert marker["train"]["stats"]["device"].startswith("cuda")


def test_cli_writes_the_folder_and_prints_the_marker(tmp_path: Path, tiny_dir: Path):
    import typer
    from typer.testing import CliRunner

    from recsys.cli.finetune_cli import finetune

    app = typer.Typer()
    app.command()(finetune)
    base = _static_model(tmp_path)
    args = ["--data", str(tiny_dir), "--out", str(tmp_path / "m"), "--base", str(base), "--batch-size", "4",
            "--device", "cpu", "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(printed["model"]).name == printed["version"] and printed["train"]["split"] == "all-events"
    bad = CliRunner().invoke(app, [*args, "--split", "yesterday"])
    assert isinstance(bad.exception, ConfigError) and "leave-one-out" in str(bad.exception)
