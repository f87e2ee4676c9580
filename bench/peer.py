"""The peer: LlamaIndex ingesting a corpus the tuned way, for the bench to time beside Pressroom.

Runs ONLY in the peer's own virtualenv (`make bench-peer` creates `.bench-peer/`); it imports
nothing from Pressroom and Pressroom never imports it. bench/run.py launches it as

    .bench-peer/bin/python -m bench.peer CORPUS --database-url URL --api-base URL \
        --batch-size 512 --workers 4

The tuned way: every `.md`/`.markdown` file read as a Document, split by `MarkdownNodeParser`,
embedded by `OpenAIEmbedding` against the same OpenAI-compatible server as Pressroom, with the
same batch size and as many requests in flight as Pressroom's EMBED_CONCURRENCY, stored by
`PGVectorStore(hybrid_search=True)` (a generated tsvector column with its GIN index), and the
HNSW index created AFTER the insert (no `hnsw_kwargs`, which would build it first and insert
into it row by row), with the same `maintenance_work_mem` Pressroom's index builds get.
The store's table is created before the clock starts (as Pressroom's schema is migrated at
worker start) and dropped after it stops. Prints JSON: seconds, phases, nodes, rows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from pathlib import Path
from urllib.parse import urlsplit

from llama_index.core import Document
from llama_index.core.node_parser import MarkdownNodeParser
from llama_index.core.schema import MetadataMode
from llama_index.embeddings.openai import OpenAIEmbedding
from llama_index.vector_stores.postgres import PGVectorStore
from sqlalchemy import create_engine, text

SUFFIXES = (".md", ".markdown")
TABLE = "peer_bench"  # PGVectorStore prefixes it: data_peer_bench
INDEX_BUILD_MEMORY = "256MB"  # what Pressroom's HNSW builds get (pressroom/db/schema.py)


def _sqlalchemy_urls(db_url: str) -> tuple[str, str]:
    """psycopg2 and asyncpg URLs for a libpq URL (pgserver's has a socket dir as `?host=`)."""
    rest = db_url.split("://", 1)[1]
    if not urlsplit(db_url).scheme.startswith("postgres"):
        raise ValueError(f"not a Postgres URL: {db_url}")
    return f"postgresql+psycopg2://{rest}", f"postgresql+asyncpg://{rest}"


def _documents(root: Path) -> list[Document]:
    docs = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix.lower() in SUFFIXES:
            rel = path.relative_to(root).as_posix()
            docs.append(
                Document(
                    text=path.read_text(encoding="utf-8", errors="replace"),
                    metadata={"file_path": rel},
                    # As SimpleDirectoryReader does: the path is not part of what is embedded.
                    excluded_embed_metadata_keys=["file_path"],
                    excluded_llm_metadata_keys=["file_path"],
                )
            )
    return docs


async def run_peer(
    corpus: Path, db_url: str, api_base: str, batch_size: int, workers: int, dims: int
) -> dict[str, object]:
    sync_url, async_url = _sqlalchemy_urls(db_url)
    engine = create_engine(sync_url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS public.data_{TABLE}"))
    store = PGVectorStore.from_params(
        connection_string=sync_url,
        async_connection_string=async_url,
        table_name=TABLE,
        embed_dim=dims,
        hybrid_search=True,
        text_search_config="english",
    )
    store._initialize()  # the table and its GIN index, before the clock (see the module doc)
    embed_model = OpenAIEmbedding(
        model="text-embedding-3-small",
        dimensions=dims,
        api_base=api_base,
        api_key="bench-key",
        embed_batch_size=batch_size,
        num_workers=workers,
    )
    phases: dict[str, float] = {}
    start = mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        phases[name] = round(now - mark, 4)
        mark = now

    docs = _documents(corpus)
    lap("read")
    nodes = MarkdownNodeParser().get_nodes_from_documents(docs)
    lap("parse")
    texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    vectors = await embed_model.aget_text_embedding_batch(texts)
    for node, vector in zip(nodes, vectors, strict=True):
        node.embedding = vector
    lap("embed")
    store.add(nodes)
    lap("insert")
    with engine.begin() as conn:
        conn.execute(text(f"SET LOCAL maintenance_work_mem = '{INDEX_BUILD_MEMORY}'"))
        conn.execute(
            text(
                f"CREATE INDEX data_{TABLE}_embedding_idx ON public.data_{TABLE} "
                "USING hnsw (embedding vector_cosine_ops)"
            )
        )
    lap("index")
    seconds = time.perf_counter() - start
    with engine.begin() as conn:
        count = f"SELECT count(*) FROM public.data_{TABLE}"  # noqa: S608 - a constant name
        rows = conn.execute(text(count)).scalar_one()
        conn.execute(text(f"DROP TABLE IF EXISTS public.data_{TABLE}"))
    await store.close()
    engine.dispose()
    return {
        "seconds": round(seconds, 4),
        "documents": len(docs),
        "nodes": len(nodes),
        "rows": int(rows),
        "phases": phases,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--api-base", required=True, help="the OpenAI-compatible server's /v1")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--workers", type=int, default=4, help="embedding requests in flight")
    parser.add_argument("--dimensions", type=int, default=384)
    args = parser.parse_args()
    result = asyncio.run(
        run_peer(
            args.corpus,
            args.database_url,
            args.api_base,
            args.batch_size,
            args.workers,
            args.dimensions,
        )
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
