"""Tamper-evident index versions: every load verifies sizes and content hashes (cached per unchanged file),
damaged artifacts are the one `ArtifactError` (CLI exit 4, refused reload 409), `serve` exits 4 on a broken
index, and leftovers of killed builds are removed by the next build."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import recsys.index.manifest as manifest_mod
from recsys.artifacts import load_artifacts
from recsys.errors import ArtifactError
from recsys.index import Manifest
from recsys.index.manifest import MANIFEST_FILE, file_sha256
from recsys.index.store import STALE_AFTER_S, remove_stale_staging, rollback, staging
from recsys.service import Settings, create_app

from ..conftest import REPO, build_tiny_version


def _build(root: Path, extra_product: str | None = None) -> Path:
    return build_tiny_version(root, extra_product)


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recsys.cli.main", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def _rewrite_products_readably(version: Path) -> None:
    """Change one title and write the catalogue back as valid parquet, keeping the file size when some
    same-length title gives that (then only the content hash can tell)."""
    path = version / "products.parquet"
    size = path.stat().st_size
    frame = pd.read_parquet(path)
    for title in ("gps running WATCH", "gps running watcH", "GPS running watch"):
        frame.loc[frame["product_id"] == "r3", "title"] = title
        frame.to_parquet(path, index=False)
        if path.stat().st_size == size:
            break
    assert pd.read_parquet(path).set_index("product_id").loc["r3", "title"] != "gps running watch"


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _reseal(version: Path) -> None:
    """Record the folder's current files in its manifest, as a build that wrote them so would have."""
    m = Manifest.load(version)
    files = {name: manifest_mod.file_digest(version / name) for name in m.files}
    m.model_copy(update={"files": files, "checksum": Manifest.checksum_of(files)}).save(version)


@pytest.fixture(scope="module")
def rewritten(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rewritten") / "idx"
    _rewrite_products_readably(_build(root))
    return root


@pytest.mark.parametrize("args", [
    ["recommend", "--user", "u_coffee"],
    ["similar", "--item", "r1"],
    ["query", "running watch"],
    ["profile", "--user", "u_coffee"],
    ["inspect", "--json"],
])
def test_rewritten_but_readable_products_parquet_is_refused_on_every_cli_load(rewritten: Path, args: list[str]):
    r = _cli(args[0], "--index", str(rewritten), *args[1:])
    assert r.returncode == 4, r.stderr
    assert "products.parquet" in r.stderr and "checksum" in r.stderr and "recsys rollback" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_a_same_size_rewrite_is_caught_by_the_content_hash(tmp_path: Path):
    version = _build(tmp_path / "idx")
    path = version / "blend.json"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"popularity": 0.3', '"popularity": 0.9'), encoding="utf-8")
    assert path.stat().st_size == len(text.encode()) and json.loads(path.read_text())
    with pytest.raises(ArtifactError, match=r"blend\.json does not match its checksum .*xxh3_128"):
        load_artifacts(version)
    r = _cli("recommend", "--index", str(tmp_path / "idx"), "--user", "u_coffee")
    assert r.returncode == 4 and "blend.json" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("name", ["products.parquet", "signals.parquet"])
def test_a_truncated_parquet_exits_4_without_a_traceback(tmp_path: Path, name: str):
    _truncate(_build(tmp_path / "idx") / name)
    r = _cli("recommend", "--index", str(tmp_path / "idx"), "--user", "u_coffee", "--json")
    assert r.returncode == 4, r.stderr
    assert name in r.stderr and "bytes" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("name", ["products.parquet", "signals.parquet", "cooc.npz", "history.parquet",
                                  "item_vectors.npy", "blend.json", "index.faiss"])
def test_an_unreadable_artifact_that_matches_its_manifest_is_an_artifact_error(tmp_path: Path, name: str):
    version = _build(tmp_path / "idx")
    _truncate(version / name)
    _reseal(version)  # as if the build itself had written the damaged file
    with pytest.raises(ArtifactError, match=name.replace(".", r"\.")) as info:
        load_artifacts(version)
    assert "rebuild" in str(info.value)


def test_serve_on_a_broken_index_exits_4_with_one_line(rewritten: Path, tmp_path: Path):
    r = _cli("serve", "--index", str(rewritten), "--port", "0", "--events-db", str(tmp_path / "ev.db"), timeout=90)
    assert r.returncode == 4, r.stderr
    assert "Traceback" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "products.parquet" in errors[0]


def test_serve_on_a_missing_index_exits_4(tmp_path: Path):
    r = _cli("serve", "--index", str(tmp_path / "nothing"), "--port", "0", timeout=90)
    assert r.returncode == 4 and "recsys build" in r.stderr and "Traceback" not in r.stderr


def test_reload_of_a_tampered_version_is_refused_and_the_old_one_keeps_serving(tmp_path: Path):
    root = tmp_path / "idx"
    v1 = _build(root)
    with TestClient(create_app(Settings(index=root, events_db=tmp_path / "ev.db"))) as c:
        v2 = _build(root, extra_product="n1")
        _rewrite_products_readably(v2)
        r = c.post("/v1/admin/reload")
        assert r.status_code == 409
        assert "products.parquet" in r.json()["detail"] and v1.name in r.json()["detail"]
        answer = c.get("/v1/users/u_coffee/recommendations?k=2")
        assert answer.status_code == 200 and answer.json()["index_version"] == v1.name


def _count_hashing(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    hashed: list[Path] = []
    real = manifest_mod._hash_file

    def counting(path: Path, algo: str) -> str:
        hashed.append(path)
        return real(path, algo)

    monkeypatch.setattr(manifest_mod, "_hash_file", counting)
    return hashed


def test_an_unchanged_file_is_not_rehashed_by_a_second_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    built = _build(tmp_path / "a")
    version = tmp_path / "b" / built.name
    shutil.copytree(built, version)  # new inodes: nothing cached for them yet
    hashed = _count_hashing(monkeypatch)
    load_artifacts(version)
    assert sorted(p.name for p in hashed) == sorted(Manifest.load(version).files)
    hashed.clear()
    load_artifacts(version)
    Manifest.load(version).verify(version)
    assert hashed == []
    load_artifacts(built)  # digests computed while building are reused: the rename keeps the inodes
    assert hashed == []


def test_a_rewrite_that_restores_size_and_mtime_is_rehashed_and_refused(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch):
    version = _build(tmp_path / "idx")
    load_artifacts(version)
    path = version / "blend.json"
    st = path.stat()
    path.write_text(path.read_text().replace('"popularity": 0.3', '"popularity": 0.9'))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime, same inode; ctime moved
    hashed = _count_hashing(monkeypatch)
    with pytest.raises(ArtifactError, match="blend.json"):
        load_artifacts(version)
    assert [p.name for p in hashed] == ["blend.json"]


def test_a_schema_2_manifest_with_sha256_entries_still_verifies(tmp_path: Path):
    version = _build(tmp_path / "idx")
    data = json.loads((version / MANIFEST_FILE).read_text())
    files = {name: file_sha256(version / name) for name in data["files"]}
    data.update(schema_version=2, files=files, checksum=Manifest.checksum_of(files))
    (version / MANIFEST_FILE).write_text(json.dumps(data))
    assert load_artifacts(tmp_path / "idx").version == version.name
    _truncate(version / "signals.parquet")
    with pytest.raises(ArtifactError, match=r"signals\.parquet does not match its checksum .*sha256"):
        load_artifacts(version)


def test_a_manifest_whose_file_list_was_edited_is_refused(tmp_path: Path):
    version = _build(tmp_path / "idx")
    data = json.loads((version / MANIFEST_FILE).read_text())
    data["files"]["products.parquet"] = manifest_mod.file_digest(version / "blend.json")
    (version / MANIFEST_FILE).write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="file list does not match its checksum"):
        load_artifacts(version)


def test_a_binary_manifest_exits_4(tmp_path: Path):
    version = _build(tmp_path / "idx")
    (version / MANIFEST_FILE).write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ArtifactError, match="cannot be read as JSON"):
        Manifest.load(version)
    r = _cli("inspect", "--index", str(tmp_path / "idx"))
    assert r.returncode == 4 and "manifest.json" in r.stderr and "Traceback" not in r.stderr


def test_an_incremental_build_refuses_a_damaged_parent(tmp_path: Path):
    version = _build(tmp_path / "idx")
    _truncate(version / "item_vectors.parquet")
    with pytest.raises(ArtifactError, match=r"item_vectors\.parquet .*--full"):
        _build(tmp_path / "idx", extra_product="n1")


def test_rollback_refuses_a_damaged_parent(tmp_path: Path):
    v1 = _build(tmp_path / "idx")
    v2 = _build(tmp_path / "idx", extra_product="n1")
    _truncate(v1 / "history.parquet")
    with pytest.raises(ArtifactError, match=r"cannot roll back .*history\.parquet"):
        rollback(tmp_path / "idx")
    assert os.readlink(tmp_path / "idx" / "current") == v2.name


def test_the_staging_folder_of_a_killed_build_is_removed_by_the_next_build(tmp_path: Path):
    root = tmp_path / "idx"
    killed = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from recsys.index.store import staging
        with staging(Path({str(root)!r}), "killed") as tmp:
            (tmp / "products.parquet").write_bytes(b"half a file")
            os.kill(os.getpid(), signal.SIGKILL)
        """)], cwd=REPO, timeout=60)
    assert killed.returncode == -9 and (root / ".tmp-killed").is_dir()
    _build(root)
    assert not (root / ".tmp-killed").exists() and not (root / ".tmp-killed.lock").exists()


def test_a_live_build_keeps_its_staging_folder_and_old_lockless_ones_go(tmp_path: Path):
    root = tmp_path / "idx"
    root.mkdir()
    old = root / ".tmp-old"  # a build by a recsys without lock files, idle for longer than the limit
    old.mkdir()
    (old / "x").write_text("partial")
    past = time.time() - STALE_AFTER_S - 60
    for p in (old / "x", old):
        os.utime(p, (past, past))
    fresh = root / ".tmp-fresh"  # lockless but recently written: may be a live build, kept
    fresh.mkdir()
    held = root / ".tmp-held"  # a live build in another process: it holds the lock
    held.mkdir()
    fd = os.open(root / ".tmp-held.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with staging(root, "live") as tmp:  # a build starting removes the dead leftover only
            assert not old.exists() and fresh.is_dir() and held.is_dir()
            (tmp / "x").write_text("being written")
            assert remove_stale_staging(root) == []  # another build starting now keeps this one
            assert tmp.is_dir()
    finally:
        os.close(fd)
    assert (root / "live").is_dir() and not (root / ".tmp-live.lock").exists()
    assert remove_stale_staging(root) == [".tmp-held"]  # its writer let go of the lock without finishing
    assert fresh.is_dir()
