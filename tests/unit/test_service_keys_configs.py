"""API keys (hashed at rest) and per-request blend configs with deterministic A/B arms."""

from __future__ import annotations

import json
import stat
from collections import Counter
from pathlib import Path

import pytest

from recsys.config import BlendConfig
from recsys.config.catalog import BlendCatalog, assign_arm
from recsys.errors import ConfigError
from recsys.service.keys import KeyRing, create_key, hash_key


def test_keys_file_stores_only_the_hash(tmp_path: Path):
    path = tmp_path / "keys.json"
    key, key_id = create_key(path, "shop-a")
    admin_key, _ = create_key(path, "shop-a", admin=True)
    text = path.read_text()
    assert key not in text and admin_key not in text and hash_key(key) in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ring = KeyRing.load(path)
    who = ring.lookup(key)
    assert who is not None and (who.tenant, who.admin, who.key_id) == ("shop-a", False, key_id)
    assert ring.lookup(admin_key).admin and ring.lookup("rk_guess") is None
    assert ring.tenants == {"shop-a"}


@pytest.mark.parametrize("content", ["not json", '{"nokeys": []}', '{"keys": [{"tenant": "a"}]}', '{"keys": []}'])
def test_bad_keys_files_are_config_errors(tmp_path: Path, content: str):
    (tmp_path / "k.json").write_text(content)
    with pytest.raises(ConfigError, match="keys"):
        KeyRing.load(tmp_path / "k.json")


def test_tenant_names_are_checked(tmp_path: Path):
    with pytest.raises(ConfigError, match="tenant name"):
        create_key(tmp_path / "k.json", "../etc")
    assert not (tmp_path / "k.json").exists()


def test_arm_assignment_is_deterministic_and_follows_the_split():
    split = {"control": 80.0, "treatment": 20.0}
    arms = [assign_arm(f"user-{i}", "exp1", split) for i in range(4000)]
    assert arms == [assign_arm(f"user-{i}", "exp1", split) for i in range(4000)]
    share = Counter(arms)["treatment"] / len(arms)
    assert 0.17 < share < 0.23
    # another experiment reshuffles users independently
    other = [assign_arm(f"user-{i}", "exp2", split) for i in range(4000)]
    assert other != arms


CATALOG = {
    "default": "base",
    "configs": {"base": {}, "pop": {"weights": {"popularity": 2.0, "cosine": 0.1}}, "fixed": {"id": "fixed-v1"}},
    "experiments": {"pop-test": {"arms": {"a": "base", "b": "pop"}}},
}


def test_catalog_resolution_precedence():
    cat = BlendCatalog.parse(CATALOG, "test")
    index_cfg = BlendConfig()
    assert cat.resolve(index_cfg).config.id.startswith("base-")
    assert cat.resolve(index_cfg, name="pop").config.weights.popularity == 2.0
    assert cat.resolve(index_cfg, name="fixed").config.id == "fixed-v1"
    r = cat.resolve(index_cfg, user_id="u1", experiment="pop-test")
    assert r.arm in {"a", "b"} and r.config.id == cat.configs[{"a": "base", "b": "pop"}[r.arm]].id
    inline = cat.resolve(index_cfg, name="pop", weights={"rating": 0.7})
    assert inline.config.weights.rating == 0.7 and inline.config.weights.popularity == 2.0
    assert inline.config.id != cat.configs["pop"].id
    assert cat.resolve(index_cfg, diversity=1.0).config.mmr_lambda == pytest.approx(0.05)
    assert BlendCatalog().resolve(index_cfg).config is index_cfg


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "nope"}, "unknown blend config"),
    ({"experiment": "nope", "user_id": "u"}, "unknown experiment"),
    ({"experiment": "pop-test"}, "pass user_id"),
    ({"weights": {"bogus": 1.0}}, "bogus"),
    ({"weights": {"cosine": -1.0}}, "greater than or equal"),
])
def test_bad_requests_for_configs_are_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        BlendCatalog.parse(CATALOG, "test").resolve(BlendConfig(), **kwargs)


@pytest.mark.parametrize("data, match", [
    ({"configs": {"x": {"weights": {"nope": 1}}}}, "nope"),
    ({"configs": {}, "experiments": {"e": {"arms": {"a": "missing"}}}}, "unknown configs"),
    ({"configs": {"x": {}}, "default": "y"}, "default config"),
    ({"configs": {}, "extra": 1}, "unknown keys"),
])
def test_bad_catalog_files_are_refused(tmp_path: Path, data, match):
    (tmp_path / "c.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=match):
        BlendCatalog.load(tmp_path / "c.json")
