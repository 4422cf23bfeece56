"""`rollback` moves `current` back along the manifest's parent chain and never touches a version folder."""

from __future__ import annotations

import os
import shutil

import pytest
import typer
from typer.testing import CliRunner

from recsys import make_dataset
from recsys.build.pipeline import BuildOptions, build_index
from recsys.cli.ops import rollback as rollback_cmd
from recsys.encoders import HashingEncoder
from recsys.errors import ArtifactError
from recsys.index import Manifest, list_versions
from recsys.index.store import current_version, rollback

from ..conftest import tiny_frames

OPTS = BuildOptions(progress=False)


def _build(root, title: str = "espresso coffee beans dark roast"):
    products, events = tiny_frames()
    products.loc[0, "title"] = title
    return build_index(make_dataset(products, events), root, HashingEncoder(32), OPTS).manifest.version


def test_rollback_returns_to_the_parent_then_refuses_past_the_first_build(tmp_path):
    root = tmp_path / "i"
    v1 = _build(root)
    v2 = _build(root, "espresso beans")
    assert current_version(root) == v2
    assert rollback(root) == v1
    assert os.readlink(root / "current") == v1
    assert list_versions(root) == sorted([v1, v2])  # v2 is kept, so it can be pointed at again
    Manifest.load(root / v2).verify(root / v2)
    with pytest.raises(ArtifactError, match="no parent.*no earlier version"):
        rollback(root)
    assert current_version(root) == v1


def test_a_build_after_rollback_derives_from_the_restored_version(tmp_path):
    root = tmp_path / "i"
    v1 = _build(root)
    _build(root, "espresso beans")
    rollback(root)
    v3 = _build(root, "espresso beans, whole")
    m3 = Manifest.load(root / v3)
    assert m3.parent == v1
    assert m3.lineage.changed == 1 and m3.lineage.encoded == 1


def test_rollback_without_an_index_or_with_a_deleted_parent_says_what_to_do(tmp_path):
    with pytest.raises(ArtifactError, match="recsys build"):
        rollback(tmp_path / "nothing")
    root = tmp_path / "i"
    v1 = _build(root)
    _build(root, "espresso beans")
    shutil.rmtree(root / v1)
    with pytest.raises(ArtifactError, match="no longer in"):
        rollback(root)


def test_rollback_command(tmp_path):
    root = tmp_path / "i"
    v1 = _build(root)
    v2 = _build(root, "espresso beans")
    app = typer.Typer()
    app.command()(rollback_cmd)
    app.command("noop")(lambda: None)  # two commands, so typer keeps `rollback` as a sub-command name
    result = CliRunner().invoke(app, ["rollback", "--index", str(root)])
    assert result.exit_code == 0, result.output
    assert v2 in result.output and v1 in result.output
    assert current_version(root) == v1
