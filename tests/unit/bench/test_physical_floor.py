"""bench/physical_floor.py's pure parts: index definitions retargeted at the floor's tables,
and the tokenizer."""

from __future__ import annotations

import pytest

from bench.physical_floor import rewrite_index, tokenize


def test_rewrite_index_keeps_the_definition_and_retargets_it() -> None:
    pkey = (
        "CREATE UNIQUE INDEX sections_pkey ON public.sections USING btree "
        "(site_id, revision_id, section_id)"
    )
    assert rewrite_index(pkey, "sections", "pf_idx_1") == (
        "CREATE UNIQUE INDEX pf_idx_1 ON public.pf_sections USING btree "
        "(site_id, revision_id, section_id)"
    )
    hnsw = (
        "CREATE INDEX sections_embedding_hnsw_384 ON public.sections USING hnsw "
        "(((embedding)::vector(384)) vector_cosine_ops) WHERE (dims = 384)"
    )
    assert rewrite_index(hnsw, "sections", "pf_idx_2") == (
        "CREATE INDEX pf_idx_2 ON public.pf_sections USING hnsw "
        "(((embedding)::vector(384)) vector_cosine_ops) WHERE (dims = 384)"
    )
    with pytest.raises(ValueError, match="not an index definition"):
        rewrite_index("ALTER TABLE sections ADD COLUMN x int", "sections", "pf_idx_3")


def test_tokenize_parses_with_the_library_in_use() -> None:
    assert tokenize("") == 0
    # markdown-it-pyrs' tree: a heading and a paragraph at the top level; a table is one
    assert tokenize("# Title\n\nSome text.\n") == 2
    assert tokenize("| a | b |\n|---|---|\n| 1 | 2 |\n\ntext\n") == 2
