"""`recsys serve --workers N` checks its start-up in a child process (`_check_apart`): the parent gets the
child's error with its class (so its exit code) and message, and loads none of the indexes itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys.cli.serve import _check_apart, _rebuilt
from recsys.errors import ArtifactError, ConfigError, DataValidationError, Problem, RecsysError
from recsys.service import Settings
from recsys.service.app import check_startup

from .test_item_matrix import _build


def _raised_here_and_apart(settings: Settings) -> tuple[RecsysError, RecsysError]:
    with pytest.raises(RecsysError) as here:
        check_startup(settings)
    with pytest.raises(RecsysError) as apart:
        _check_apart(settings)
    return here.value, apart.value


def test_a_broken_index_is_the_same_artifact_error_in_the_parent(tmp_path: Path):
    version = _build(tmp_path / "idx")
    (version / "index.faiss").write_bytes(b"not a faiss index")
    here, apart = _raised_here_and_apart(Settings(index=tmp_path / "idx", events_db=tmp_path / "ev.db"))
    assert type(apart) is type(here) is ArtifactError and apart.exit_code == 4
    assert str(apart) == str(here) and "index.faiss" in str(apart)


def test_a_broken_keys_file_is_the_same_config_error_in_the_parent(tmp_path: Path):
    _build(tmp_path / "idx")
    keys = tmp_path / "keys.json"
    keys.write_text("{ not json")
    here, apart = _raised_here_and_apart(Settings(index=tmp_path / "idx", events_db=tmp_path / "ev.db", keys=keys))
    assert type(apart) is type(here) is ConfigError and apart.exit_code == 2 and str(apart) == str(here)


def test_a_good_start_up_runs_in_another_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import recsys.service.app

    _build(tmp_path / "idx")

    def not_here(_settings: Settings) -> None:
        raise AssertionError("check_startup ran in the serving process")

    monkeypatch.setattr(recsys.service.app, "check_startup", not_here)  # a spawned child imports the real one
    _check_apart(Settings(index=tmp_path / "idx", events_db=tmp_path / "ev.db"))


def test_an_error_class_with_its_own_arguments_keeps_its_message():
    error = DataValidationError([Problem("products.parquet", "price", "negative")])
    rebuilt = _rebuilt(type(error), str(error))
    assert type(rebuilt) is DataValidationError and str(rebuilt) == str(error) and rebuilt.exit_code == 2
