"""What `recsys serve --workers N` imports in its supervisor process, which only starts and watches workers:
the CLI, the server settings and uvicorn's supervisor, never the recommender's libraries (~100 MB of a
process that lives as long as the server)."""

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
