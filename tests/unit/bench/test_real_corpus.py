"""bench/real_corpus.py: the perturbation keeps Markdown structure and is deterministic; the
replicated corpus has exactly the posts asked for, unique ids, and every image in every copy."""

from __future__ import annotations

import random
from pathlib import Path

from bench.real_corpus import build_replicated, copy_corpus, corpus_posts, perturb
from pressroom.content.posts import post_id

POST = """---
title: "Errors are values"
tags: [errors, design]
---

Intro paragraph about handling errors with patience and several careful examples here.

## Checking errors everywhere

We check every returned error, see [the proposal](https://example.com/design/errors-proposal)
and ![a diagram of errors](images/errors-diagram.png) or <img src="images/other.png" width="100">.
Use {{< figure src="images/figure.png" caption="keep this caption" >}} and `inline codeword`.

```go
func check(err error) { if err != nil { panic(err) } }
```

Closing thoughts about values, errors, patience and other things people write about.
"""


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_perturb_is_deterministic_and_changes_prose() -> None:
    a = perturb(POST, random.Random(1))
    assert a == perturb(POST, random.Random(1))
    assert a != POST
    assert a != perturb(POST, random.Random(2))


def test_perturb_keeps_structure_byte_for_byte() -> None:
    out = perturb(POST, random.Random(3), share=1.0)
    before, after = POST.split("\n"), out.split("\n")
    assert len(before) == len(after)
    # Front matter and fenced code untouched; headings stay headings.
    assert after[:4] == before[:4]
    fence = before.index("```go")
    assert after[fence : fence + 3] == before[fence : fence + 3]
    assert after[7].startswith("## ") and after[5] != before[5]
    for kept in (
        "(https://example.com/design/errors-proposal)",
        "(images/errors-diagram.png)",
        '<img src="images/other.png" width="100">',
        '{{< figure src="images/figure.png" caption="keep this caption" >}}',
        "`inline codeword`",
    ):
        assert kept in out


def _sources(root: Path) -> Path:
    for name, posts in (("blog", 3), ("docs", 2), ("site", 1)):
        corpus = root / name
        for i in range(posts):
            folder = corpus / "content" / f"page-{i}"
            folder.mkdir(parents=True)
            (folder / "index.md").write_text(POST.replace("values", f"values {i}"))
        (corpus / "content" / "images").mkdir()
        (corpus / "content" / "images" / "errors-diagram.png").write_bytes(b"\x89PNG fake")
        (corpus / "README.md").write_text(f"# {name}\n\nAbout this corpus and its pages.\n")
    return root


def test_replicated_corpus_is_exact_unique_and_deterministic(tmp_path: Path) -> None:
    src = _sources(tmp_path / "src")
    corpora = ("blog", "docs", "site")  # 4 + 3 + 2 = 9 posts a copy
    a = build_replicated(tmp_path / "a", 20, seed=5, corpora=corpora, source_root=src)
    b = build_replicated(tmp_path / "b", 20, seed=5, corpora=corpora, source_root=src)
    posts = corpus_posts(a)
    assert len(posts) == 20
    assert len({post_id(p) for p in posts}) == 20
    assert _tree(a) == _tree(b)
    # Copy 0 is the original text; later copies differ from it but keep every image.
    original = (src / "blog" / "content" / "page-0" / "index.md").read_bytes()
    assert (a / "copy-00" / "blog" / "content" / "page-0" / "index.md").read_bytes() == original
    assert (a / "copy-01" / "blog" / "content" / "page-0" / "index.md").read_bytes() != original
    for copy in ("copy-00", "copy-01", "copy-02"):
        for name in corpora:
            image = a / copy / name / "content" / "images" / "errors-diagram.png"
            # A real copy: Pressroom's local source refuses a file with several hard links.
            assert image.is_file() and image.stat().st_nlink == 1
    other = build_replicated(tmp_path / "c", 20, seed=6, corpora=corpora, source_root=src)
    assert _tree(other) != _tree(a)


def test_copy_of_a_read_only_corpus_is_writable(tmp_path: Path) -> None:
    src = _sources(tmp_path / "src")
    for p in sorted(src.rglob("*"), reverse=True):
        p.chmod(0o444 if p.is_file() else 0o555)
    try:
        dest = copy_corpus("blog", tmp_path / "copy", source_root=src)
        assert corpus_posts(dest) == corpus_posts(src / "blog")
        (dest / "content" / "page-0" / "index.md").write_text("changed")
    finally:
        for p in src.rglob("*"):
            p.chmod(0o755)
