"""Revisions written straight into the database with the project's own loader
(`db.revisions.load_revision`, binary COPY, related posts; then the revision's HNSW indexes as
the load step builds them), from posts made up in the test: no source tree, no parse step,
no Temporal job. Sections are embedded with the suite's deterministic hashing embedder over
the very input the embed step uses (`section_input`), so vector and hybrid search behave as
on a real load.

`generated_posts(n)` makes `n` small posts with the bench corpus's vocabulary (seeded: the same
posts every run), each with a few unique words so a query can aim at one post.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np

from bench.generate import TAGS, WORDS
from pressroom.db.revision_indexes import build_revision_indexes
from pressroom.db.revisions import RevisionLoad, load_revision
from pressroom.db.rows import MediaRow, SectionRow
from pressroom.embeddings import HashingEmbedder
from pressroom.embeddings.inputs import section_input
from pressroom.models import Post, Section

DIMS = 384


def post(
    post_id: str,
    title: str,
    sections: Sequence[tuple[str, str]],
    *,
    tags: Sequence[str] = (),
    description: str = "",
    date: str | None = "2024-05-01",
    front_matter: dict[str, object] | None = None,
    url: str | None = None,
    aliases: Sequence[str] = (),
    updated: str | None = None,
    authors: Sequence[str] = (),
    summary: str = "",
) -> Post:
    """A post with `sections` as (heading, text) pairs; the first heading may be "" (intro).
    `url`, `aliases`, `updated`, `authors` and `summary` are set as the parse step's site
    conventions would set them."""
    built = [
        Section(
            id=f"{post_id}#s{i}",
            post_id=post_id,
            anchor=f"s{i}",
            heading=heading,
            level=2 if heading else 0,
            position=i,
            text=text,
        )
        for i, (heading, text) in enumerate(sections)
    ]
    return Post(
        id=post_id,
        slug=post_id.rsplit("/", 1)[-1],
        path=f"{post_id}.md",
        title=title,
        url=url,
        aliases=list(aliases),
        date=date,
        updated=updated,
        authors=list(authors),
        summary=summary,
        tags=list(tags),
        description=description,
        text="\n\n".join(t for _, t in sections),
        sections=built,
        front_matter=front_matter or {},
        reading_time=1,
    )


def section_rows(
    posts: Sequence[Post], *, title_cap: int | None = None, batch: int = 4096
) -> Iterator[SectionRow]:
    """Each post's sections with their hashing embeddings. `title_cap` stores only that much
    of the title in each section row (the denormalised `post_title` that weighs in full
    text; hits never return it): a test with a megabyte title need not copy it 500 times."""
    embedder = HashingEmbedder(DIMS)
    pending: list[tuple[Section, str]] = []

    def flush() -> Iterator[SectionRow]:
        inputs = [section_input(title, s.heading, s.text) for s, title in pending]
        vectors = embedder.embed_sync(inputs)
        for (section, title), vector in zip(pending, vectors, strict=True):
            yield SectionRow.from_section(
                section, post_title=title, embedding=np.asarray(vector, dtype=np.float32)
            )
        pending.clear()

    for p in posts:
        title = p.title if title_cap is None else p.title[:title_cap]
        for section in p.sections:
            pending.append((section, title))
            if len(pending) >= batch:
                yield from flush()
    yield from flush()


@dataclass(frozen=True)
class Loaded:
    site: str
    revision_id: str
    counts: dict[str, int]


async def load(
    conn: asyncpg.Connection,
    site: str,
    revision_id: str,
    posts: Sequence[Post],
    *,
    media: Sequence[MediaRow] = (),
    switch: bool = True,
    requested_at: datetime | None = None,
    title_cap: int | None = None,
    indexes: bool = True,
) -> Loaded:
    """Load `posts` as `revision_id` of `site` (current when `switch`), then build its vector
    indexes like the load step does."""
    outcome = await load_revision(
        conn,
        RevisionLoad(
            site=site,
            revision_id=revision_id,
            job_id=f"job-{revision_id}",
            provider="hashing",
            model=HashingEmbedder.model,
            dimensions=DIMS,
            posts=posts,
            sections=section_rows(posts, title_cap=title_cap),
            media=media,
            switch=switch,
            requested_at=requested_at,
            output_key=f"test-{revision_id}",
        ),
    )
    if indexes:
        await build_revision_indexes(conn, site, revision_id, DIMS)
    return Loaded(site, revision_id, outcome.counts)


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(6, 16))).capitalize() + "."


def generated_posts(count: int, *, seed: int = 13, sections: int = 3) -> list[Post]:
    """`count` posts shaped like the bench's generated corpus (`bench.generate`: its words,
    2-5 sentences of 6-16 words a section, so any query term is in thousands of sections),
    each with `sections` sections; post `i` also carries the unique words
    `post{i:05d}alpha` and `post{i:05d}omega` (in its last section)."""
    rng = random.Random(seed)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    out = []
    for i in range(count):
        title = " ".join(rng.choices(WORDS, k=rng.randint(3, 7))).capitalize()
        body = [
            (
                "" if s == 0 else " ".join(rng.choices(WORDS, k=3)).capitalize(),
                " ".join(_sentence(rng) for _ in range(rng.randint(2, 5))),
            )
            for s in range(sections)
        ]
        heading, text = body[-1]
        body[-1] = (heading, f"{text} post{i:05d}alpha post{i:05d}omega.")
        out.append(
            post(
                f"posts/p{i:05d}",
                title,
                body,
                tags=rng.sample(TAGS, k=2),
                date=(start + timedelta(hours=7 * i)).date().isoformat(),
            )
        )
    return out
