"""The embedded Postgres (pgserver: PostgreSQL 16 + pgvector) used when DATABASE_URL is unset.

pgserver starts the server on first use and lets later processes attach to the same data
directory, so the dev stack, the worker and the tests share one server per data dir.
"""

from __future__ import annotations

from pathlib import Path


def embedded_postgres_url(pgdata: Path, *, stop_on_exit: bool = False) -> str:
    """Start (or attach to) the embedded Postgres in `pgdata` and return its connection URL."""
    import pgserver  # imported lazily: it is only needed when no DATABASE_URL is configured

    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(pgdata, cleanup_mode="stop" if stop_on_exit else None)
    return str(server.get_uri())
