"""The SQLite driver search.db is written and read with: a DB-API module that can load
extensions, and connections with sqlite-vec loaded.

The stdlib `sqlite3` is used when its build can load extensions; some Pythons (pyenv builds
without `--enable-loadable-sqlite-extensions`) cannot, and then `pysqlite3` (the
pysqlite3-binary wheel: a recent SQLite with FTS5 and extension loading) stands in.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlite_vec

__all__ = ["connect", "dbapi"]


@functools.cache
def dbapi() -> ModuleType:
    """The first of `sqlite3`, `pysqlite3.dbapi2` whose connections can load extensions."""
    problems = []
    for name in ("sqlite3", "pysqlite3.dbapi2"):
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            problems.append(f"{name}: {exc}")
            continue
        if hasattr(module.Connection, "enable_load_extension"):
            return module
        problems.append(f"{name}: built without extension loading")
    raise RuntimeError(
        "search.db needs a SQLite that loads extensions (sqlite-vec): " + "; ".join(problems)
    )


def connect(path: str | Path, *, readonly: bool = False) -> Any:
    """A connection to `path` with sqlite-vec loaded (read-only: the file must exist)."""
    module = dbapi()
    if readonly:
        conn = module.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    else:
        conn = module.connect(str(path))
    try:
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        conn.enable_load_extension(False)
    except BaseException:
        conn.close()
        raise
    return conn
