"""The two Markdown paths agree: the fast path (content.render_fast, markdown-it-pyrs) gives
what the markdown-it-py path gives, on every Markdown file of the three shared corpora (read
in place), of examples/, and on generated input.

Compared per post: the HTML (heading ids included), the sections (anchor, heading, level,
text), the plain text, first paragraph and word count, the links and the images, each in
order. No normalisation is needed: where markdown-it-pyrs renders differently (footnote
numbering and markup, task lists, an empty block quote, a raw HTML block or code fence that
ends a source without a final newline: whitespace) render_fast leaves the post to
markdown-it-py.
"""

from __future__ import annotations

from dataclasses import astuple
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from pressroom.content import render_fast
from pressroom.content.extract import Extractor
from pressroom.content.frontmatter import FrontMatterError, split_front_matter
from pressroom.content.posts import is_post_path
from pressroom.content.render import MarkdownError, RenderedMarkdown, render
from pressroom.content.template_syntax import expand_templates
from tests.conftest import CORPORA, REPO_ROOT

TREES = {
    "go-blog": CORPORA / "go-blog",
    "hugo-docs": CORPORA / "hugo-docs",
    "jekyll-docs": CORPORA / "jekyll-docs",
    "examples": REPO_ROOT / "examples",
}
# Share of a tree's posts that must take the fast path, so that this test compares the two
# paths and not the markdown-it-py path with itself. The rest use footnotes or kramdown
# attribute lists (a quarter of jekyll-docs).
MIN_FAST_SHARE = {"go-blog": 0.95, "hugo-docs": 0.95, "jekyll-docs": 0.8, "examples": 1.0}


def reference(body: str, path: str, known: frozenset[str]) -> RenderedMarkdown:
    """The markdown-it-py path."""
    with mock.patch.object(render_fast, "fits", return_value=False):
        return render(body, post_path=path, known_files=known)


def fields(r: RenderedMarkdown) -> dict[str, object]:
    return {
        "html": r.html,
        "sections": [astuple(s) for s in r.sections],
        "text": r.text,
        "first_paragraph": r.first_paragraph,
        "word_count": r.word_count,
        "links": [link.model_dump() for link in r.links],
        "images": [image.model_dump() for image in r.images],
    }


def differences(body: str, path: str, known: frozenset[str]) -> tuple[bool, list[str]]:
    """(took the fast path, the fields in which the two paths differ)."""
    try:
        expected = fields(reference(body, path, known))
    except MarkdownError as exc:
        with pytest.raises(MarkdownError, match="nested too deeply"):
            render(body, post_path=path, known_files=known)
        return False, [] if "nested too deeply" in str(exc) else [f"reference: {exc}"]
    source = expand_templates(body)
    ex = Extractor(MarkdownIt(), path, known)
    took_fast = render_fast.fits(source) and render_fast.render_tree(source, ex) is not None
    actual = fields(render(body, post_path=path, known_files=known))
    return took_fast, [k for k in expected if expected[k] != actual[k]]


def bodies(root: Path) -> list[tuple[str, str]]:
    """(repo path, Markdown body) of every post file under `root`."""
    out = []
    for file in sorted(root.rglob("*")):
        rel = file.relative_to(root).as_posix()
        if file.is_file() and is_post_path(rel):
            try:
                _, body, _ = split_front_matter(file.read_bytes().decode("utf-8-sig"))
            except FrontMatterError:
                continue
            out.append((rel, body))
    return out


@pytest.mark.parametrize("tree", sorted(TREES))
def test_both_paths_agree_on_every_post_of(tree: str) -> None:
    root = TREES[tree]
    known = frozenset(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    posts = bodies(root)
    assert posts, f"no posts under {root}"
    fast, differ = 0, {}
    for rel, body in posts:
        took_fast, fields_differing = differences(body, rel, known)
        fast += took_fast
        if fields_differing:
            differ[rel] = fields_differing
    assert differ == {}
    assert fast >= MIN_FAST_SHARE[tree] * len(posts), f"{fast} of {len(posts)} took the fast path"


# --- generated input: constructs and their edges ----------------------------------------

_PIECES = st.sampled_from(
    [
        "\n", "\n\n", "# ", "## ", "> ", "- ", "* ", "1. ", "2) ", "  ", "    ", "\t", "```",
        "```go\n", "~~~", "`", "*", "**", "_", "~~", "[", "]", "(", ")", "![", "](u)",
        "](<a b> \"t\")", "[r]", "\n[r]: /x\n", "<img src=x alt=y>", "<a href=y>", "</a>", "<br>",
        "<div>", "</div>", "<div markdown=1>", "<h2>", "</h2>", "<!-- c -->", "|", "|---|",
        "| a | b |\n|:-|-:|\n", "- [ ] ", "- [x] ", "\nTerm\n: ", "&amp;", "&copy;", "\\*",
        "<http://a.b/c>", "<x@y.z>", "word", "Word", " ", "===", "---", "日本", "%20", "ü",
        "{{< ref \"p\" >}}", "{% raw %}", "{% endraw %}", "{{ x }}",
    ]
)  # fmt: skip


@settings(max_examples=600, deadline=None, database=None, derandomize=True)
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_both_paths_agree_on_generated_input(body: str) -> None:
    assert differences(body, "posts/p.md", frozenset({"posts/x"}))[1] == []


@pytest.mark.parametrize(
    "body",
    [
        "- [ ] open\n- [x] done\n",
        "# A\n\n<h2>raw</h2>\n\n## B <h3>x</h3>\n",  # raw HTML headings beside Markdown ones
        "Term\n: one\n\n: two\n\nTerm 2\n: - a\n  - b\n",
        "> " * 120 + "deep\n",  # past markdown-it-py's nesting limit: both report it
        "- " * 60 + "deep\n",
        ">" * 99 + " deep\n",  # under fits' prefix limit, at the nesting limit: the tree walk
        ">" * 98 + " deep\n",
        "- " * 49 + "deep\n",
        "- " * 48 + "deep\n",
        "".join("  " * i + "- x\n" for i in range(52)),
        "| a | b |\n|---|---|\n| 1 |\n| 1 | 2 | 3 |\n",
        "## A {#x}\n\n## x\n\n# B {#x}\n\n### *C* d {: #c-1}\n",  # kramdown heading ids
        "## A {#a}\n\n```\n## B {#b}\n```\n",
        "Title {#s}\n===\n\n## A {#a} ##\n\n##  {#e}\n",
        "## A {#a}\n\n<h2>raw</h2>\n",
        "> a\n8.\n\n> a\n> 8.\n\na\n8.\n",
        "*a " * 95 + "b" + "*" * 95,  # inline nesting past the walk's limit
        "![" * 95 + "a" + "](u)" * 95,
        "*a " * 6000 + "b" + "*" * 6000,  # more delimiters than the fast path takes
    ],
)
def test_both_paths_agree_on(body: str) -> None:
    assert differences(body, "posts/p.md", frozenset())[1] == []


def test_a_rust_panic_falls_back_to_markdown_it_py() -> None:
    # markdown-it 0.6 (Rust) panics on this input; the post is rendered all the same.
    body = "</a>![<img src=x>![*```<img src=x>\n---*"
    assert render_fast.fits(body)
    assert render_fast.render_tree(body, _extractor()) is None
    assert differences(body, "posts/p.md", frozenset())[1] == []


def test_what_the_fast_path_leaves_to_markdown_it_py() -> None:
    assert render_fast.fits("# Title\n\ntext with {braces} and [links](/x)\n")
    for body in ("a\n{: .note}\n", "## T {#id .c}\n", "a[^1]\n\n[^1]: n\n", "a^[i]\n", "- [ ] t\n"):
        assert not render_fast.fits(body), body
    # Nesting that could overflow the Rust parser's stack never reaches it.
    assert not render_fast.fits("> " * 50 + "deep\n")
    assert not render_fast.fits("x\r" + "\t" * 100 + "- deep\n")  # "\r" ends a line too
    assert not render_fast.fits("*a " * 10_001 + "b")
    assert render_fast.fits("*a " * 9_999 + "b")


def _extractor() -> Extractor:
    return Extractor(MarkdownIt(), "posts/p.md", frozenset())
