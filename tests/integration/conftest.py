from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import SAMPLE


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped Gift Cards sample built once with the real bundled MiniLM and real FAISS."""
    from recsys.build.pipeline import BuildOptions, build_index
    from recsys.data.dataset import load_dataset
    from recsys.encoders import make_encoder

    out = tmp_path_factory.mktemp("sample") / "gift_cards"
    build_index(load_dataset(SAMPLE), out, make_encoder("all-MiniLM-L6-v2"), BuildOptions(progress=False))
    return out
