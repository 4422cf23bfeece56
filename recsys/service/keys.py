"""API keys mapped to tenants. Only sha256(key) is stored; the key itself is shown once at creation.

Keys file (JSON)::

    {"keys": [{"id": "k-1a2b3c4d", "sha256": "<hex>", "tenant": "shop-a", "admin": false,
               "created_at": "2026-11-23T10:00:00+00:00"}]}
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from recsys.errors import ConfigError

__all__ = ["Principal", "KeyRing", "create_key", "hash_key", "TENANT_PATTERN"]

TENANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
KEY_PREFIX = "rk_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant whose index and events they may use, and whether they are admin."""

    tenant: str
    admin: bool
    key_id: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data["keys"]
        if not isinstance(entries, list) or not all(
                isinstance(e, dict) and {"sha256", "tenant"} <= e.keys() for e in entries):
            raise TypeError("`keys` must be a list of objects with sha256 and tenant")
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"keys file {path} is not a valid keys file ({exc}); create keys with "
                          "`recsys keys create --keys FILE --tenant NAME`") from exc
    return entries


class KeyRing:
    """sha256(key) → Principal, loaded once from a keys file."""

    def __init__(self, entries: list[dict], source: str = "memory") -> None:
        self._by_hash = {
            str(e["sha256"]): Principal(str(e["tenant"]), bool(e.get("admin", False)), str(e.get("id", "")))
            for e in entries
        }
        if not self._by_hash:
            raise ConfigError(f"keys file {source} holds no keys; add one with `recsys keys create`")

    @classmethod
    def load(cls, path: str | Path) -> KeyRing:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"keys file {p} does not exist; create it with `recsys keys create --keys {p} "
                              "--tenant NAME`")
        return cls(_read(p), str(p))

    @property
    def tenants(self) -> set[str]:
        return {p.tenant for p in self._by_hash.values()}

    def lookup(self, key: str) -> Principal | None:
        return self._by_hash.get(hash_key(key))


def create_key(path: str | Path, tenant: str, *, admin: bool = False) -> tuple[str, str]:
    """Append a new key for `tenant` to the keys file (atomic rewrite, mode 0600); return (key, key id)."""
    import re

    if not re.match(TENANT_PATTERN, tenant):
        raise ConfigError(f"tenant name {tenant!r} is not allowed; use letters, digits, '_', '.', '-' "
                          "(at most 64, starting with a letter or digit)")
    p = Path(path)
    entries = _read(p)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = "k-" + secrets.token_hex(4)
    entries.append({"id": key_id, "sha256": hash_key(key), "tenant": tenant, "admin": admin,
                    "created_at": datetime.now(UTC).isoformat(timespec="seconds")})
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"keys": entries}, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, p)
    return key, key_id
