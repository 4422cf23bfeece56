"""What server processes import. The `recsys serve --workers N` supervisor only starts and watches workers:
the CLI, the server settings and uvicorn's supervisor, never the recommender's libraries (~100 MB of a
process that lives as long as the server). A worker imports the app but not what it never runs."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pandas", "numpy", "pyarrow", "scipy", "faiss", "torch", "numba", "psycopg", "fastapi", "recsys.recommender")


def test_the_serve_supervisor_imports_none_of_the_recommenders_libraries(tmp_path):
    code = f"""
import sys
import recsys.cli.main
from recsys.service.settings import OPEN_MODE_WARNING, Settings, is_loopback
from uvicorn.supervisors import Multiprocess
s = Settings(index={str(tmp_path)!r})
s.environ(), s.events_label, s.events_path, is_loopback("127.0.0.1")
print(" ".join(m for m in {HEAVY!r} if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == []


def test_the_package_names_still_resolve():
    import recsys
    import recsys.service
    import recsys.store

    assert all(getattr(recsys, name) is not None for name in recsys.__all__)
    assert recsys.service.create_app.__name__ == "create_app" and recsys.service.Settings.__name__ == "Settings"
    assert all(getattr(recsys.store, name) is not None for name in recsys.store.__all__)
    assert set(recsys.__all__) <= set(dir(recsys))


def test_a_worker_imports_neither_numba_nor_the_postgres_driver():
    """A worker tokenizes with bm25s's stopword lists only (bm25s's package imports numba and llvmlite) and,
    on a SQLite store, never opens PostgreSQL: ~22 MB of private heap per worker."""
    code = """
import sys
import recsys.service.app
from recsys.store import open_event_store
print(" ".join(m for m in ("numba", "llvmlite", "bm25s", "psycopg", "psycopg_pool", "torch") if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == []


def test_the_tokenizer_drops_bm25s_own_stopwords():
    import bm25s.stopwords

    from recsys.text import tokenize as T

    assert frozenset(bm25s.stopwords.STOPWORDS_EN) == T._EN_STOP
    assert frozenset(bm25s.stopwords.STOPWORDS_CHINESE) == T._ZH_STOP
