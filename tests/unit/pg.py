"""The PostgreSQL server the tests of `PostgresEventStore` use, and a fresh schema per test.

`RECSYS_TEST_POSTGRES_DSN` names the server (`.ci/run` starts one and sets it). Without it, or when the server
cannot be reached, those tests are skipped with the reason, unless `RECSYS_REQUIRE_POSTGRES=1` (CI sets it):
then they fail, so a CI machine whose server did not come up cannot pass by skipping them.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

DSN_ENV = "RECSYS_TEST_POSTGRES_DSN"
REQUIRE_ENV = "RECSYS_REQUIRE_POSTGRES"
NO_DSN = f"set {DSN_ENV}=postgresql://… (CI starts one: .ci/run)"


@functools.cache
def _probe() -> tuple[str | None, str]:
    dsn = os.environ.get(DSN_ENV, "").strip()
    if not dsn:
        return None, NO_DSN
    try:
        psycopg.connect(dsn, connect_timeout=5).close()
    except psycopg.Error as exc:
        return None, f"no PostgreSQL server at {DSN_ENV}: {str(exc).strip().splitlines()[0]}"
    return dsn, ""


def server_dsn() -> str:
    """The test server's DSN; skips the test without one (fails it when `RECSYS_REQUIRE_POSTGRES=1`)."""
    dsn, why = _probe()
    if dsn is None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but {why}", pytrace=False)
        pytest.skip(why)
    return dsn


def with_search_path(dsn: str, schema: str) -> str:
    """The DSN with `schema` first on its search path; a URL stays a URL, so `open_event_store` still
    recognises it."""
    options = f"-c search_path={schema}"
    if dsn.startswith(("postgresql://", "postgres://")):
        return f"{dsn}{'&' if '?' in dsn else '?'}options={quote(options)}"
    return make_conninfo(dsn, options=options)


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A DSN whose tables live in a new, empty schema (dropped afterwards), so tests never see each other's
    events, and every test starts from a database without the store's tables."""
    dsn = server_dsn()
    name = f"recsys_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield with_search_path(dsn, name)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
