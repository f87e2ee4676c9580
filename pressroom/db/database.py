"""Transitional: the old `pressroom.db.database` names, re-exported from the modules that now
own them (`pool`, `schema`, `rows`, `revisions`, `cache`). Removed once no caller is left."""

from __future__ import annotations

from pressroom.db.cache import get_cached_embeddings, put_cached_embeddings
from pressroom.db.pool import connect, create_pool
from pressroom.db.revisions import (
    LoadOutcome,
    RevisionSuperseded,
    load_revision_outcome,
    lock_site,
    prune_revisions,
    revision_changes,
    switch_current,
)
from pressroom.db.rows import MediaRow, SectionRow, parse_timestamp
from pressroom.db.schema import ensure_vector_indexes, migrate, schema_sql
from pressroom.db.sites import site_source

__all__ = [
    "LoadOutcome",
    "MediaRow",
    "RevisionSuperseded",
    "SectionRow",
    "connect",
    "create_pool",
    "ensure_vector_indexes",
    "get_cached_embeddings",
    "load_revision_outcome",
    "lock_site",
    "migrate",
    "parse_timestamp",
    "prune_revisions",
    "put_cached_embeddings",
    "revision_changes",
    "schema_sql",
    "site_source",
    "switch_current",
]
