"""Markdown rendering: HTML, plain text, sections and anchors, links, images, templates."""

from __future__ import annotations

import html

import pytest

from pressroom.content.extract import count_words
from pressroom.content.paths import resolve_image
from pressroom.content.render import MarkdownError, RenderedMarkdown, render
from pressroom.content.sections import slugify
from pressroom.content.template_syntax import expand_templates


def md(
    body: str, path: str = "posts/p.md", known: frozenset[str] = frozenset()
) -> RenderedMarkdown:
    return render(body, post_path=path, known_files=known)


# --- anchors and sections ----------------------------------------------------------------


def test_slugify_is_github_style() -> None:
    assert slugify("Hello, World!") == "hello-world"
    assert slugify("  What's `new` in 4.0?  ") == "whats-new-in-40"
    assert slugify("Ünïcödé & 日本語") == "ünïcödé--日本語"
    assert slugify("snake_case-and-dash") == "snake_case-and-dash"


def test_duplicate_headings_get_numbered_unique_anchors_and_ids() -> None:
    r = md("# Setup\n\na\n\n## Setup\n\nb\n\n### Setup\n\nc\n\n## Setup-1\n\nd\n")
    anchors = [s.anchor for s in r.sections]
    assert anchors == ["setup", "setup-1", "setup-2", "setup-1-1"]
    for anchor in anchors:
        assert f'id="{anchor}"' in r.html
    assert '<h2 id="setup-1">Setup</h2>' in r.html


def test_sections_split_at_headings_with_intro() -> None:
    r = md("Intro *text*.\n\n# One\n\nFirst.\n\n## Two\n\nSecond **bold**.\n\n###### Six\n")
    assert [(s.anchor, s.heading, s.level, s.text) for s in r.sections] == [
        ("", "", 0, "Intro text."),
        ("one", "One", 1, "First."),
        ("two", "Two", 2, "Second bold."),
        ("six", "Six", 6, ""),
    ]


def test_no_intro_section_when_body_starts_with_heading() -> None:
    r = md("\n\n# Title\n\nText\n")
    assert [s.anchor for s in r.sections] == ["title"]
    assert md("").sections == []


def test_setext_headings_and_empty_heading_text() -> None:
    r = md("Title\n=====\n\nx\n\n# !!!\n\n# ???\n")
    assert [(s.anchor, s.level) for s in r.sections] == [
        ("title", 1),
        ("section", 1),
        ("section-1", 1),
    ]


def test_kramdown_ids_and_classes() -> None:
    body = (
        "## 4.4.1 / 2025-01-29\n{: #v4-4-1}\n\n### Bug Fixes\n{: #bug-fixes-v4-4-1}\n\n"
        "- fix\n\n### Bug Fixes {#other}\n\n### Bug Fixes\n\n"
        '{: .note .info}\nA note paragraph.\n\n[x](https://e.com){:target="_blank"} y\n'
    )
    r = md(body)
    assert [s.anchor for s in r.sections] == ["v4-4-1", "bug-fixes-v4-4-1", "other", "bug-fixes"]
    assert '<h2 id="v4-4-1">4.4.1 / 2025-01-29</h2>' in r.html
    assert '<p class="note info">A note paragraph.</p>' in r.html
    assert "{:" not in r.html
    assert "{:" not in r.text
    assert r.sections[-1].text == "A note paragraph.\n\nx y"


def test_explicit_id_wins_over_generated_slug() -> None:
    r = md("# Intro\n\n# Other\n{: #intro}\n")
    assert [s.anchor for s in r.sections] == ["intro-1", "intro"]


# --- plain text ----------------------------------------------------------------------------


def test_plain_text_has_no_markup_and_keeps_code() -> None:
    body = (
        "Some **bold**, _em_, ~~gone~~ and `code` with [a link](http://x.org).\n\n"
        "> quoted\n\n- one\n- two\n\n1. first\n\n"
        "```python\nprint('hi')  # keep\n```\n\n    indented code\n\n"
        '| a | b |\n|---|---|\n| 1 | **2** |\n\n---\n\n<div class="x"><p>In <b>html</b></p>'
        "<script>var no = 1;</script></div>\n"
    )
    r = md(body)
    assert r.text == (
        "Some bold, em, gone and code with a link.\n\nquoted\n\none\ntwo\n\nfirst\n\n"
        "print('hi')  # keep\n\nindented code\n\na\tb\n1\t2\n\nIn html"
    )
    for noise in ("**", "~~", "`", "](", "<", "|", "---"):
        assert noise not in r.text


def test_html_block_with_markdown_attribute_is_read_as_markdown() -> None:
    body = '<div class="note">\n  <p markdown="1">Use `serve` and [the docs](/docs/).</p>\n</div>\n'
    r = md(body)
    assert r.text == "Use serve and the docs."
    assert [(link.url, link.text) for link in r.links] == [("/docs/", "the docs")]


def test_footnotes_and_task_lists() -> None:
    r = md("Claim[^1].\n\n- [x] done\n- [ ] todo\n\n[^1]: Source text.\n")
    assert 'class="footnote-ref"' in r.html
    assert 'type="checkbox"' in r.html
    assert "Source text." in r.text
    assert "[^1]" not in r.text
    assert "[x]" not in r.text


def test_first_paragraph_skips_image_only_paragraphs() -> None:
    r = md("# T\n\n![only](a.png)\n\nReal *first* paragraph.\n\nSecond.\n")
    assert r.first_paragraph == "Real first paragraph."


def test_word_count() -> None:
    assert count_words("Hello, world! It's a well-known fact: 42.") == 8
    assert count_words("日本語のテキスト and English") == 10
    assert count_words("") == 0
    assert md("One two three.\n\n```\nfour five\n```\n").word_count == 5


# --- templates -----------------------------------------------------------------------------


def test_liquid_tags_and_outputs_are_dropped() -> None:
    body = (
        "Hi {{ page.title }} there.\n\n{% if x %}\nShown text\n{% endif %}\n\n"
        "{% comment %}secret words{% endcomment %}\n\n"
        "{% capture c %}captured words{% endcapture %}\n\n"
        '## Theme {%- include badge.html version="4.3" -%}\n\n'
        'Use `{{ "{{" }}` to escape.\n'
    )
    r = md(body)
    assert "{%" not in r.text and "{{" not in r.text
    assert "secret" not in r.text and "captured" not in r.text and "secret" not in r.html
    assert "Hi there." in r.text
    assert "Shown text" in r.text
    assert r.sections[-1].heading == "Theme"
    assert "<code>{{</code>" in r.html  # a Liquid string literal is output as written


def test_liquid_raw_keeps_inner_text_without_delimiters() -> None:
    body = (
        "The {% raw %}`{{ include.content }}`{% endraw %} parameter.\n\n"
        '{%- raw -%}\n```liquid\n{% include note.html content="Hi" %}\n'
        "{% include {{ page.file }} %}\n```\n{%- endraw -%}\n"
    )
    r = md(body)
    assert "<code>{{ include.content }}</code>" in r.html
    assert "{% include note.html content=&quot;Hi&quot; %}" in r.html
    assert r.text == (
        'The include.content parameter.\n\ninclude note.html content="Hi"\ninclude page.file'
    )


def test_fenced_code_keeps_template_like_code() -> None:
    body = (
        "```jsx\n<div style={{color: 'red'}}>{% raw %}{{ x }}{% endraw %}</div>\n```\n\n"
        "> ~~~go\n> {{ .Title }}\n> ~~~\n\nAfter {{ dropped }} fence.\n"
    )
    r = md(body)
    assert "<div style={{color: 'red'}}>{{ x }}</div>" in html.unescape(r.html)
    assert "{{ .Title }}" in r.html
    assert "dropped" not in r.html
    assert r.text == "<div style=color: 'red'>x</div>\n\n.Title\n\nAfter fence."


def test_highlight_tag_becomes_code_block() -> None:
    r = md("{% highlight ruby linenos %}\ndef x; end\n{% endhighlight %}\n")
    assert '<pre><code class="language-ruby">def x; end\n</code></pre>' in r.html
    assert r.text == "def x; end"


def test_jekyll_link_tags_in_link_targets_yield_links() -> None:
    body = (
        "See [the docs]({% link _docs/x.md %}) and [a post]({% post_url 2010-07-21-name %}) "
        "and [#1]({{ site.repository }}/issues/1) and "
        "[filtered]({{ '/docs/plugins/' | relative_url }}).\n"
    )
    r = md(body)
    assert [(link.url, link.text, link.internal) for link in r.links] == [
        ("_docs/x.md", "the docs", True),
        ("2010-07-21-name", "a post", True),
        ("{{site.repository}}/issues/1", "#1", False),
        ("/docs/plugins/", "filtered", True),
    ]
    assert r.text == "See the docs and a post and #1 and filtered."


def test_hugo_shortcodes() -> None:
    body = (
        "{{< note >}}Inside a note.{{< /note >}}\n\n"
        'See [ref]({{< ref "posts/other.md" >}}).\n\n'
        '{{< figure src="/img/a.png" alt="An A" title="T" caption="The caption" >}}\n\n'
        "{{% highlight go %}}\nfunc main() {}\n{{% /highlight %}}\n\n"
        "Literal `{{</* youtube id */>}}` shortcode.\n"
    )
    r = md(body)
    assert "Inside a note." in r.text
    assert ("posts/other.md", "ref") in [(link.url, link.text) for link in r.links]
    assert [(i.src, i.alt, i.title) for i in r.images] == [("/img/a.png", "An A", "T")]
    assert "The caption" in r.text
    assert '<code class="language-go">func main() {}' in r.html
    assert "<code>{{&lt; youtube id &gt;}}</code>" in r.html
    assert "youtube id" in r.text
    assert "{{" not in r.text and "{%" not in r.text


def test_unterminated_templates_do_not_crash_or_leak() -> None:
    r = md("Broken {% if x and {{ y\n\n{% raw %}\nrest {{ z }}\n")
    assert "{%" not in r.text and "{{" not in r.text
    assert "rest z" in r.text


def test_expand_templates_directly() -> None:
    assert expand_templates("{{ site.baseurl }}/img/x.png") == "/img/x.png"
    assert expand_templates("a {% include x %} b") == "a  b"
    assert expand_templates("{% raw %}{{ a }}{% endraw %}") == "{{ a }}"


# --- links ---------------------------------------------------------------------------------


def test_links_and_internal_flag() -> None:
    body = (
        "[rel](other.md) [root](/about/) [frag](#top) [ext](https://e.com/x) "
        "[proto](//cdn.e.com/a) [mail](mailto:a@b.c) [rel](other.md) "
        '<a href="/html/">raw <b>html</b></a> [sp](<my file.md>)\n'
    )
    r = md(body)
    assert [(link.url, link.text, link.internal) for link in r.links] == [
        ("other.md", "rel", True),
        ("/about/", "root", True),
        ("#top", "frag", True),
        ("https://e.com/x", "ext", False),
        ("//cdn.e.com/a", "proto", False),
        ("mailto:a@b.c", "mail", False),
        ("/html/", "raw html", True),
        ("my file.md", "sp", True),
    ]


def test_links_inside_html_blocks() -> None:
    r = md('<p>\n<a href="https://e.com">E &amp; co</a>\n</p>\n')
    assert [(link.url, link.text, link.internal) for link in r.links] == [
        ("https://e.com", "E & co", False)
    ]
    assert r.text == "E & co"


def test_unsafe_link_schemes_are_not_links() -> None:
    r = md("[x](javascript:alert(1))\n")
    assert r.links == []
    assert "<a" not in r.html


# --- images --------------------------------------------------------------------------------


def test_images_from_markdown_and_html() -> None:
    known = frozenset({"posts/pic.png", "img/logo.png"})
    body = (
        '![Alt *emph*](pic.png "Title") and <img src="/img/logo.png" alt="Logo" title="L">\n\n'
        '<figure>\n<img src="https://e.com/a.jpg" alt="Remote">\n</figure>\n\n'
        '![data](data:image/png;base64,AAAA)\n\n![](pic.png "Title")\n'
    )
    r = md(body, known=known)
    assert [(i.src, i.path, i.alt, i.title) for i in r.images] == [
        ("pic.png", "posts/pic.png", "Alt emph", "Title"),
        ("/img/logo.png", "img/logo.png", "Logo", "L"),
        ("https://e.com/a.jpg", None, "Remote", None),
        ("data:image/png;base64,AAAA", None, "data", None),
        ("pic.png", "posts/pic.png", "", "Title"),
    ]


def test_images_in_code_are_not_images() -> None:
    r = md('```html\n<img src="logo.png">\n```\n\n`![x](y.png)`\n')
    assert r.images == []


def test_liquid_base_url_in_image_src() -> None:
    known = frozenset({"docs/img/x.png"})
    r = md(
        '![A]({{ site.baseurl }}/img/x.png)\n\n<img src="{{ site.baseurl }}/img/x.png" alt="B">\n\n'
        "![C]({{ '/img/x.png' | relative_url }})\n",
        path="docs/_posts/2020-01-01-a.md",
        known=known,
    )
    assert {(i.src, i.path) for i in r.images} == {("/img/x.png", "docs/img/x.png")}
    assert [i.alt for i in r.images] == ["A", "B", "C"]


@pytest.mark.parametrize(
    ("src", "post", "known", "expected"),
    [
        ("pic.png", "blog/post/index.md", set(), "blog/post/pic.png"),
        ("./a/../pic.png", "blog/p.md", set(), "blog/pic.png"),
        ("../img/p.png", "blog/posts/p.md", set(), "blog/img/p.png"),
        ("../../../etc/passwd", "blog/p.md", set(), None),
        ("/img/x.png", "docs/_docs/a.md", {"docs/img/x.png"}, "docs/img/x.png"),
        ("/img/x.png", "docs/_docs/a.md", {"img/x.png", "docs/img/x.png"}, "img/x.png"),
        ("/img/x.png", "docs/_docs/a.md", set(), "img/x.png"),
        (
            "/images/h.png",
            "content/posts/p/index.md",
            {"static/images/h.png"},
            "static/images/h.png",
        ),
        ("/img/my%20pic.png?v=2#frag", "a.md", set(), "img/my pic.png"),
        ("pic.png#x", "a/b.md", set(), "a/pic.png"),
        ("{{ site.baseurl }}/img/x.png", "docs/a.md", {"docs/img/x.png"}, "docs/img/x.png"),
        ("{{ page.image }}", "a.md", set(), None),
        ("https://e.com/x.png", "a.md", set(), None),
        ("HTTP://E.COM/x.png", "a.md", set(), None),
        ("//cdn.e.com/x.png", "a.md", set(), None),
        ("data:image/png;base64,AAAA", "a.md", set(), None),
        ("", "a.md", set(), None),
        ("/", "a.md", set(), None),
    ],
)
def test_resolve_image(src: str, post: str, known: set[str], expected: str | None) -> None:
    assert resolve_image(src, post, frozenset(known)) == expected


# --- robustness ----------------------------------------------------------------------------


def test_too_deep_nesting_is_reported_not_truncated() -> None:
    with pytest.raises(MarkdownError, match="nested too deeply"):
        md("> " * 10_000 + "deep")
    with pytest.raises(MarkdownError, match="nested too deeply"):
        md("- " * 10_000 + "deep")
    # Right up to the limit nothing is lost, so nothing is reported.
    assert md("> " * 99 + "fine").text == "fine"
    assert md("- " * 49 + "fine").text == "fine"
    with pytest.raises(MarkdownError):
        md("- " * 50 + "cut")


@pytest.mark.parametrize(
    "body",
    [
        "[" * 10_000 + "x" + "]" * 10_000 + "(y)",
        "*" * 10_000 + "x" + "*" * 10_000,
        "![" * 5_000 + "x",
        "<span>" * 10_000 + "x",
        "<div>" * 10_000 + "x",
        "`" * 10_000,
        "{% " * 10_000,
        "{{ " * 10_000,
    ],
)
def test_pathological_inline_input_does_not_crash(body: str) -> None:
    r = md(body)
    assert "{%" not in r.text and "{{" not in r.text
