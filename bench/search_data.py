"""The search bench's database: several sites, each with several kept revisions, of real posts.

`prepare(pgdata, work, sites=3, revisions=3, posts=10_000)` builds (or reuses) an embedded
Postgres in `pgdata` holding `sites` sites of `posts` posts each, every one with `revisions`
loaded revisions, the last one current. Each site is bench/real_corpus.py's replicated mix of
the three real corpora with its own seed (so the sites' texts and vectors differ); each later
revision of a site edits one post in a hundred (a paragraph added), as a day's pushes would.

Loading goes through the real steps without Temporal (`bench.search_quality.load_site`: fetch,
parse, embed with the hashing embedder, load, which builds the per-revision indexes) and the
real switch. A marker file records what was built, so a second bench run reuses the database.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench.real_corpus import build_replicated, corpus_posts
from bench.search_quality import load_site
from pressroom.db.pool import connect
from pressroom.db.revision_indexes import backfill_revision_indexes
from pressroom.db.revisions import switch_current
from pressroom.db.terms import backfill_revision_terms
from pressroom.publish.latest import RevisionOrder
from pressroom.runtime.embedded import embedded_postgres_url

__all__ = ["SearchData", "prepare", "site_name"]

_EDIT_SHARE = 0.01
_MARKER = "search-bench.json"


@dataclass(frozen=True)
class SearchData:
    url: str
    sites: int
    revisions: int
    posts: int
    current: dict[str, str]  # site -> current revision id


def site_name(index: int) -> str:
    return f"bench-site-{index}"


def _edit(tree: Path, revision: int, seed: int) -> None:
    """Add a paragraph to one post in a hundred: the next revision of the same site."""
    rng = random.Random(seed * 1000 + revision)
    posts = sorted(corpus_posts(tree))
    for rel in rng.sample(posts, max(1, int(len(posts) * _EDIT_SHARE))):
        path = tree / rel
        with path.open("a", encoding="utf-8") as out:
            out.write(f"\n\nRevision {revision} adds this paragraph about search speed.\n")


async def _upgrade(url: str) -> None:
    """What a load would add to a database built by an earlier version: missing indexes
    and word counts."""
    conn = await connect(url)
    try:
        await backfill_revision_indexes(conn)
        await backfill_revision_terms(conn)
    finally:
        await conn.close()


async def prepare(
    pgdata: Path,
    work: Path,
    *,
    sites: int = 3,
    revisions: int = 3,
    posts: int = 10_000,
    log: object = print,
) -> SearchData:
    url = embedded_postgres_url(pgdata)
    marker = pgdata / _MARKER
    wanted = {"sites": sites, "revisions": revisions, "posts": posts}
    if marker.exists():
        known = json.loads(marker.read_text())
        if {k: known[k] for k in wanted} == wanted:
            await _upgrade(url)
            return SearchData(url=url, **known)
        raise RuntimeError(f"{pgdata} holds another bench database ({known}); remove it first")
    current: dict[str, str] = {}
    for s in range(sites):
        site = site_name(s)
        tree = work / site
        shutil.rmtree(tree, ignore_errors=True)
        build_replicated(tree, posts, seed=101 + s)
        for r in range(revisions):
            if r:
                _edit(tree, r, 101 + s)
            revision = await load_site(
                url, tree, site=site, work_dir=work, job_id=f"search-bench-{s}-{r}"
            )
            conn = await asyncpg.connect(url)
            try:
                async with conn.transaction():
                    order = RevisionOrder.of(datetime.now(UTC), f"search-bench-{s}-{r}")
                    await switch_current(conn, site, revision, order)
            finally:
                await conn.close()
            current[site] = revision
            log(f"loaded {site} revision {r + 1}/{revisions}: {revision}")  # type: ignore[operator]
        shutil.rmtree(tree, ignore_errors=True)
    data = SearchData(url=url, sites=sites, revisions=revisions, posts=posts, current=current)
    body = asdict(data)
    body.pop("url")
    marker.write_text(json.dumps(body, indent=2))
    return data


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pgdata", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--sites", type=int, default=3)
    parser.add_argument("--revisions", type=int, default=3)
    parser.add_argument("--posts", type=int, default=10_000)
    args = parser.parse_args()
    print(
        asyncio.run(
            prepare(
                args.pgdata, args.work, sites=args.sites, revisions=args.revisions,
                posts=args.posts,
            )
        )
    )  # fmt: skip
