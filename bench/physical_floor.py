"""The physical floor: what reading, tokenizing, embedding and loading a corpus costs at the
least, below any of Pressroom's own logic (bench/floor.py is "Pressroom without Temporal";
this is "the libraries and Postgres alone").

Phases, each timed on its own:
- read: every post file's bytes, decoded;
- tokenize: each text through the Markdown library Pressroom parses with (`tokenize`, the one
  function to switch when the parse step moves to another library), one process;
- embed: the revision's section and image inputs through the hashing embedder, in slices;
- load: the very rows Pressroom loaded for the revision (read back, untimed, from its tables)
  COPYed in binary into empty tables of the same shape with no index (defaults, generated
  columns and checks kept), then every index those tables carry built on them, in one
  transaction; `copy` and `index` are its two parts.

Run it right after a Pressroom job, before the database is emptied:

    python -m bench.physical_floor CORPUS --database-url URL --site SITE

It prints JSON: seconds per phase, row counts and the process's peak RSS. The floor tables are
dropped afterwards; Pressroom's rows are left as they were.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import re
import resource
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

import asyncpg
import numpy as np
from markdown_it_pyrs import MarkdownIt

from bench.laps import Laps
from pressroom.content.posts import is_post_path
from pressroom.embeddings.hashing import HashingEmbedder
from pressroom.embeddings.inputs import media_input, section_input

__all__ = ["PhysicalFloor", "rewrite_index", "run_physical_floor", "tokenize"]

_SLICE = 512
_PREFIX = "pf_"  # the floor's tables: pf_<table>


@cache
def _markdown() -> MarkdownIt:
    # The library and extensions Pressroom's parse step uses for nearly every post
    # (markdown-it-pyrs, set up as pressroom/content/render_fast.py does), none of Pressroom's
    # own rules: this is the library's cost, not ours.
    return MarkdownIt("commonmark").enable_many(["table", "strikethrough", "deflist", "tasklist"])


def tokenize(text: str) -> int:
    """Tokenize one Markdown text with the library Pressroom uses; returns the number of
    top-level nodes. The one place the floor names a Markdown library."""
    return len(_markdown().tree(text).children)


@dataclass
class PhysicalFloor:
    seconds: float  # read + tokenize + embed + load
    posts: int
    tokens: int
    inputs: int
    rows: dict[str, int]
    phases: dict[str, float] = field(default_factory=dict)
    peak_rss_kib: int = 0


_INDEX = re.compile(r"^CREATE (UNIQUE )?INDEX (\S+) ON (ONLY )?(\S+) ", re.IGNORECASE)


def rewrite_index(indexdef: str, table: str, new_name: str) -> str:
    """`pg_indexes.indexdef` of an index on `table`, retargeted at the floor's copy of it."""
    m = _INDEX.match(indexdef)
    if not m:
        raise ValueError(f"not an index definition: {indexdef!r}")
    schema = m.group(4).rpartition(".")[0]
    target = f"{schema}.{_PREFIX}{table}" if schema else f"{_PREFIX}{table}"
    return f"CREATE {m.group(1) or ''}INDEX {new_name} ON {target} " + indexdef[m.end() :]


@dataclass
class _Table:
    name: str
    columns: list[str]  # without generated ones: Postgres computes those on COPY, as for Pressroom
    data: bytes
    rows: int
    indexes: list[str]


async def _revision_tables(conn: asyncpg.Connection, site: str) -> tuple[str, list[_Table]]:
    """The rows Pressroom loaded for the site's current revision, as binary COPY data."""
    revision = await conn.fetchval("SELECT current_revision FROM sites WHERE site_id = $1", site)
    if revision is None:
        raise RuntimeError(f"site {site!r} has no current revision: run Pressroom first")
    names = [
        r["table_name"]
        for r in await conn.fetch(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND column_name IN ('site_id', 'revision_id') AND table_name NOT LIKE 'pf\\_%' "
            "AND table_name <> 'revisions' GROUP BY table_name HAVING count(*) = 2 ORDER BY 1"
        )
    ]
    tables = []
    for name in names:
        columns = [
            r["attname"]
            for r in await conn.fetch(
                "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 "
                "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
                name,
            )
        ]
        # Table and column names come from the catalog, values are parameters.
        cols = ", ".join(f'"{c}"' for c in columns)
        where = f'FROM "{name}" WHERE site_id = $1 AND revision_id = $2'
        buf = io.BytesIO()
        await conn.copy_from_query(
            f"SELECT {cols} {where}",
            site,
            revision,
            output=buf,
            format="binary",
        )
        rows = await conn.fetchval(f"SELECT count(*) {where}", site, revision)
        indexes = [
            r["indexdef"]
            for r in await conn.fetch(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = $1 "
                "ORDER BY indexname",
                name,
            )
        ]
        tables.append(_Table(name, columns, buf.getvalue(), int(rows), indexes))
    return str(revision), tables


async def _embedding_inputs(conn: asyncpg.Connection, site: str, revision: str) -> list[str]:
    sections = await conn.fetch(
        "SELECT post_title, heading, content FROM sections "
        "WHERE site_id = $1 AND revision_id = $2 ORDER BY post_id, position",
        site,
        revision,
    )
    media = await conn.fetch(
        "SELECT path, alt_texts, description FROM media WHERE site_id = $1 AND revision_id = $2",
        site,
        revision,
    )
    return [section_input(r["post_title"], r["heading"], r["content"]) for r in sections] + [
        media_input(list(r["alt_texts"]), r["description"], Path(r["path"]).name) for r in media
    ]


def _post_files(corpus: Path) -> list[Path]:
    return sorted(
        p for p in corpus.rglob("*") if p.is_file() and is_post_path(str(p.relative_to(corpus)))
    )


async def _drop_floor_tables(conn: asyncpg.Connection, tables: list[_Table]) -> None:
    for t in tables:
        await conn.execute(f'DROP TABLE IF EXISTS "{_PREFIX}{t.name}"')


async def run_physical_floor(corpus: Path, db_url: str, site: str) -> PhysicalFloor:
    conn = await asyncpg.connect(db_url)
    try:
        revision, tables = await _revision_tables(conn, site)
        inputs = await _embedding_inputs(conn, site, revision)
        await _drop_floor_tables(conn, tables)
        paths = await asyncio.to_thread(_post_files, corpus)
        laps = Laps()
        lap, phases = laps.lap, laps.phases
        texts = [p.read_bytes().decode("utf-8", errors="replace") for p in paths]
        lap("read")
        tokens = sum(tokenize(t) for t in texts)
        lap("tokenize")
        embedder = HashingEmbedder(384)
        parts = [embedder.embed_sync(inputs[i : i + _SLICE]) for i in range(0, len(inputs), _SLICE)]
        vectors = np.concatenate(parts) if parts else np.zeros((0, 384), np.float32)
        lap("embed")
        async with conn.transaction():
            # What Pressroom's index builds get (pressroom/db/schema.py).
            await conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
            for t in tables:
                await conn.execute(
                    f'CREATE TABLE "{_PREFIX}{t.name}" (LIKE "{t.name}" INCLUDING DEFAULTS '
                    "INCLUDING GENERATED INCLUDING CONSTRAINTS)"
                )
                await conn.copy_to_table(
                    f"{_PREFIX}{t.name}",
                    source=io.BytesIO(t.data),
                    columns=t.columns,
                    format="binary",
                )
            lap("copy")
            n = 0
            for t in tables:
                for indexdef in t.indexes:
                    n += 1
                    await conn.execute(rewrite_index(indexdef, t.name, f"{_PREFIX}idx_{n}"))
            lap("index")
        seconds = laps.seconds
        await _drop_floor_tables(conn, tables)
    finally:
        await conn.close()
    phases["load"] = round(phases["copy"] + phases["index"], 4)
    return PhysicalFloor(
        seconds=round(seconds, 4),
        posts=len(paths),
        tokens=tokens,
        inputs=len(vectors),
        rows={t.name: t.rows for t in tables},
        phases=phases,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--site", required=True, help="the site whose current revision to copy")
    args = parser.parse_args()
    result = asyncio.run(run_physical_floor(args.corpus, args.database_url, args.site))
    # ru_maxrss is in KiB on Linux.
    result.peak_rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(asdict(result), indent=2))


if __name__ == "__main__":
    main()
