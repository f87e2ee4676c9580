"""Each generator's template constructs on small hand-written inputs: go.dev template calls,
Zola shortcodes, Hugo and Jekyll image shortcodes (content.shortcodes via the pre-pass), and
MDX (content.mdx), as plain text and image references."""

from __future__ import annotations

import pytest

from pressroom.content.mdx import strip_mdx
from pressroom.content.posts import is_post_path, parse_post
from pressroom.content.render import RenderedMarkdown, render
from pressroom.content.template_syntax import expand_templates


def md(
    body: str, path: str = "blog/post.md", known: frozenset[str] = frozenset()
) -> RenderedMarkdown:
    return render(body, post_path=path, known_files=known)


def images(r: RenderedMarkdown) -> list[tuple[str, str | None, str, str | None]]:
    return [(i.src, i.path, i.alt, i.title) for i in r.images]


# --- go.dev template calls ------------------------------------------------------------------


def test_go_image_calls_become_images_resolved_beside_the_post() -> None:
    body = 'Intro.\n\n{{image "gophers/a.jpg" 850}}\n\nText {{image "b.png"}} more.\n'
    known = frozenset({"blog/gophers/a.jpg"})
    r = md(body, "blog/gophers.md", known)
    assert images(r) == [
        ("gophers/a.jpg", "blog/gophers/a.jpg", "", None),
        ("b.png", "blog/b.png", "", None),
    ]
    assert r.text == "Intro.\n\nText more."


def test_go_raw_keeps_its_string_where_it_stands() -> None:
    body = (
        "Code:\n\n{{raw `\n\tfunc f() map[string]int { return map[string]int{}}\n`}}\n\n"
        'An {{raw "[`{{block}}` action]"}}(/pkg/text/template/) and a {{raw "<"}}-chan.\n'
    )
    r = md(body)
    assert "<pre><code>func f() map[string]int { return map[string]int{}}\n</code></pre>" in r.html
    # Link text loses template delimiters, as all plain text does (template_syntax.scrub).
    assert ("/pkg/text/template/", "block action") in [(x.url, x.text) for x in r.links]
    assert "<code>{{block}}</code>" in r.html
    assert "and a <-chan." in r.text


def test_go_raw_runs_inside_code_fences_other_calls_stay_as_code() -> None:
    body = '```go\nx := {{raw "<"}}-c\n{{code "x.go"}}\n{{ .Title }}\n```\n'
    r = md(body)
    assert "x := &lt;-c\n{{code &quot;x.go&quot;}}\n{{ .Title }}" in r.html


def test_go_code_play_video_and_file_includes_vanish() -> None:
    body = (
        'A\n\n{{code "pipelines/sq.go" `/func gen/` `/^}/`}}\n\n'
        '{{play "constants/x.go" `/START/` `/STOP/`}}\n\n'
        '{{video "https://www.youtube.com/embed/xyz"}}\n\n'
        '{{raw (file "survey/usage.html")}}\n\nB\n'
    )
    assert md(body).text == "A\n\nB"
    assert expand_templates('{{- code "a.go" -}}') == ""


# --- Zola --------------------------------------------------------------------------------


def test_zola_image_shortcodes_become_images_with_alt_and_caption() -> None:
    body = (
        '{{ image(src="cat.jpg", alt="A cat") }}\n\n'
        "{{ image(src='dog.png', caption=\"The dog\", width=300) }}\n\n"
        '{{ youtube(id="dQw4w9WgXcQ", autoplay=true) }}\n\n'
        "Done.\n"
    )
    known = frozenset({"content/blog/p/cat.jpg", "content/blog/p/dog.png"})
    r = md(body, "content/blog/p/index.md", known)
    assert images(r) == [
        ("cat.jpg", "content/blog/p/cat.jpg", "A cat", None),
        ("dog.png", "content/blog/p/dog.png", "The dog", None),
    ]
    assert r.text == "The dog\n\nDone."


def test_zola_resize_image_path_is_found_where_zola_looks() -> None:
    body = '{{ resize_image(path="blog/p/shot.png", width=600, op="fit_width") }}\n'
    known = frozenset({"content/blog/p/shot.png"})
    r = md(body, "content/blog/p/index.md", known)
    assert [(i.path, i.alt) for i in r.images] == [("content/blog/p/shot.png", "")]


def test_zola_body_shortcodes_keep_their_body() -> None:
    body = (
        '{% quote(author="Ada") %}\nPrograms must be read.\n{% end %}\n\n'
        '{% figure(src="fig.svg", alt="A figure") %}\nThe caption body.\n{% end %}\n'
    )
    r = md(body)
    assert r.text == "Programs must be read.\n\nThe caption body."
    assert images(r) == [("fig.svg", "blog/fig.svg", "A figure", None)]


# --- Hugo and Jekyll ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "shortcode",
    [
        '{{< img src="shot.png" alt="A shot" filter="process" filterArgs="resize x350" >}}',
        '{{< imgproc path="shot.png" alt="A shot" spec="resize 300x" />}}',
        '{{< image src="shot.png" caption="A shot" >}}',
        '{{< imgproc "shot.png" Resize "300x" >}}',
    ],
)
def test_hugo_image_shortcodes_become_images(shortcode: str) -> None:
    known = frozenset({"content/posts/p/shot.png"})
    r = md(f"Before\n\n{shortcode}\n\nAfter\n", "content/posts/p/index.md", known)
    assert [i.path for i in r.images] == ["content/posts/p/shot.png"]
    assert r.images[0].alt in ("A shot", "")
    assert "{" not in r.text and ">" not in r.text


def test_hugo_figure_alt_falls_back_to_the_caption() -> None:
    r = md('{{< figure src="/img/a.png" caption="Zion in spring" >}}\n')
    assert images(r) == [("/img/a.png", "img/a.png", "Zion in spring", None)]
    assert r.text == "Zion in spring"


def test_jekyll_image_includes_become_images() -> None:
    body = (
        '{% include image.html url="/img/a.png" description="The A" %}\n\n'
        '{% include figure.html src=\'b.jpg\' alt="B" caption="Bee" %}\n\n'
        '{% include post-img.html path="c.gif" title="C" %}\n\n'
        '{% include note.html content="Not an image." %}\n\nEnd.\n'
    )
    r = md(body, "_posts/2020-01-01-x.md")
    assert images(r) == [
        ("/img/a.png", "img/a.png", "The A", None),
        ("b.jpg", "_posts/b.jpg", "B", None),
        ("c.gif", "_posts/c.gif", "C", "C"),
    ]
    assert r.text == "The A\n\nBee\n\nEnd."


def test_image_shortcodes_in_fenced_code_are_code() -> None:
    body = '```\n{{< img src="a.png" >}}\n{{image "b.png"}}\n```\n'
    r = md(body)
    assert r.images == []


# --- MDX ---------------------------------------------------------------------------------

MDX = """import Tabs from '@theme/Tabs';
import TabItem from '@theme/TabItem';
export const meta = {
  title: 'x',
};

# Install {#install}

{/* a comment for editors */}

<Tabs groupId="os">
  <TabItem value="mac" label="macOS" default>
    Run **brew**:

    ```bash
    brew install hugo
    ```

    - one
      - nested
  </TabItem>
  <TabItem value="win" label={`Windows ${version}`}>
    Use the `<Setup>` installer{props.suffix}.
  </TabItem>
</Tabs>

<Admonition type="tip" title="Note" />

Inline <Highlight color="#25c2a0">green</Highlight> text.

{new Date().getFullYear()}

```jsx
<Tabs>{children}</Tabs>
```
"""


def test_mdx_keeps_the_markdown_and_drops_jsx_imports_and_expressions() -> None:
    r = md(MDX, "docs/install.mdx")
    assert [(s.anchor, s.heading) for s in r.sections] == [("install", "Install")]
    assert r.text == (
        "Install\n\nRun brew:\n\nbrew install hugo\n\none\n\nnested\n\n"
        "Use the <Setup> installer.\n\nInline green text.\n\n<Tabs>{children}</Tabs>"
    )
    assert "<ul>\n<li>one\n<ul>" in r.html  # the nested list stays nested once dedented


def test_mdx_pass_is_for_mdx_files_only() -> None:
    assert is_post_path("docs/intro.mdx")
    assert "<Tabs" in md("<Tabs>\nx\n</Tabs>\n", "docs/intro.md").html
    assert strip_mdx("a {#id} b\n") == "a {#id} b\n"
    post = parse_post("docs/intro.mdx", b"---\ntitle: Hi\n---\nimport X from 'x'\n\nBody <X />.\n")
    assert (post.title, post.text) == ("Hi", "Body .")


def test_mdx_leaves_unterminated_constructs_as_text() -> None:
    assert strip_mdx("A <Broken attr={x\n\nB\n") == "A <Broken attr={x\n\nB\n"
