"""`recsys encoders prepare`: validates its arguments and reports the folders it made ready."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recsys.cli.encoders_cli import encoders_app
from recsys.errors import EncoderError


def test_prepare_torch_minilm_reports_bundled_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RECSYS_CACHE_DIR", str(tmp_path))
    res = CliRunner().invoke(encoders_app, ["prepare", "--encoder", "minilm", "--engine", "torch", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["encoder"] == "all-MiniLM-L6-v2"
    assert list(info["folders"]) == ["torch"]
    assert info["folders"]["torch"]["bytes"] > 80_000_000  # the bundled weights, nothing built
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("args", "message"), [
    (["--engine", "tensorrt"], "unknown engine 'tensorrt'"),
    (["--encoder", "no-such-model", "--engine", "torch"], "unknown encoder 'no-such-model'"),
])
def test_prepare_rejects_bad_arguments(args: list[str], message: str) -> None:
    res = CliRunner().invoke(encoders_app, ["prepare", *args])
    assert isinstance(res.exception, EncoderError)
    assert message in str(res.exception)


def test_without_subcommand_lists_encoders() -> None:
    res = CliRunner().invoke(encoders_app, [])
    assert res.exit_code == 0
    assert res.stdout.splitlines()[:2] == ["all-MiniLM-L6-v2", "multilingual-e5-small"]


def test_prepare_openvino_without_the_extra_says_how_to_install(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    from recsys.encoders import factory

    monkeypatch.setenv("RECSYS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(factory, "openvino_installed", lambda: False)
    res = CliRunner().invoke(encoders_app, ["prepare", "--encoder", "minilm", "--engine", "openvino"])
    assert isinstance(res.exception, EncoderError)
    assert "pip install 'recsys[openvino]'" in str(res.exception)
