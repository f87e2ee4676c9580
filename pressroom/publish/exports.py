"""The optional artifacts a revision may carry besides its JSON files, by name: `search.db`
(one SQLite file for the edge or the browser) and `export.sql` (the revision's rows for a plain
Postgres with pgvector). A job names them in `data.exports`, or `EXPORTS` names them for every
job; `export.sql` is made from the loaded database, so a task that loads none cannot have it.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["EXPORT_NAMES", "NEEDS_DATABASE", "SEARCH_DB", "export_problem", "exports_for"]

SEARCH_DB = "search.db"
EXPORT_SQL = "export.sql"
EXPORT_NAMES = (SEARCH_DB, EXPORT_SQL)
NEEDS_DATABASE = frozenset({EXPORT_SQL})


def export_problem(names: Sequence[str]) -> str | None:
    """Why `names` is not a list of exports (unknown or repeated names), or None."""
    for name in names:
        if name not in EXPORT_NAMES:
            return f"unknown export {name[:64]!r}; known: {', '.join(EXPORT_NAMES)}"
    if len(set(names)) != len(names):
        return "names an export twice"
    return None


def exports_for(names: Sequence[str], *, loads_database: bool) -> list[str]:
    """The exports a task makes of `names` (the setting's default for every job): in the
    canonical order, without those that need a database when the task loads none."""
    return [n for n in EXPORT_NAMES if n in names and (loads_database or n not in NEEDS_DATABASE)]
