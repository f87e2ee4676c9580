"""All SQL lives in `pressroom/db/` and `pressroom/search/`: everywhere else calls functions.

Read as text, not by importing: a statement in any string literal (or a query method called
on a connection or pool) outside those two packages is found.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
SOURCES = ("pressroom", "workflows", "activities", "api", "starter")
SQL_HOMES = (ROOT / "pressroom" / "db", ROOT / "pressroom" / "search")

SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT INTO|DELETE FROM|UPDATE\s+\w+\s+SET|CREATE (TABLE|INDEX)"
    r"|pg_advisory\w*)\b"
    r"|\b(conn|pool|connection)\.(fetch|fetchrow|fetchval|execute|executemany|copy_\w+)\(",
)


def sql_outside_its_homes(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        if any(home in path.parents for home in SQL_HOMES):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if SQL.search(line):
                found.append(f"{path}:{n}: {line.strip()}")
    return found


def test_no_sql_outside_db_and_search() -> None:
    paths = [p for folder in SOURCES for p in sorted((ROOT / folder).rglob("*.py"))]
    assert len(paths) > 80
    found = sql_outside_its_homes(paths)
    assert not found, "\n".join(found)


def test_the_check_sees_sql(tmp_path: Path) -> None:
    """The test has teeth: queries in an API module are found, the ones in db/ are not."""
    sample = tmp_path / "bad.py"
    sample.write_text('rows = await conn.fetch(\n    "SELECT site_id FROM sites"\n)\n')
    assert len(sql_outside_its_homes([sample])) == 2
    assert sql_outside_its_homes([ROOT / "pressroom" / "db" / "revisions.py"]) == []
