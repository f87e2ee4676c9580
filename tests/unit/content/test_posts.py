"""Post parsing: conventions, front matter keys, errors, and the whole Jekyll docs corpus."""

from __future__ import annotations

import hashlib
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pressroom.content import render as render_module
from pressroom.content.posts import PostParseError, is_post_path, parse_post
from pressroom.models import Post
from tests.conftest import JEKYLL


def post(path: str, text: str, known: frozenset[str] = frozenset()) -> Post:
    return parse_post(path, text.encode(), known_files=known)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a.md", True),
        ("docs/_posts/2020-01-01-x.markdown", True),
        ("README.MD", True),
        ("x/Y.Markdown", True),
        ("a.mdx", True),
        ("Docs/Intro.MDX", True),
        ("a.txt", False),
        ("md", False),
        (".md", False),
        ("dir.md/file.png", False),
    ],
)
def test_is_post_path(path: str, expected: bool) -> None:
    assert is_post_path(path) is expected


# --- conventions -----------------------------------------------------------------------


def test_jekyll_dated_post_takes_date_and_slug_from_file_name() -> None:
    p = post("blog/_posts/2014-06-04-hello-world.md", "Body text.\n")
    assert (p.id, p.slug, p.date, p.title) == (
        "blog/_posts/2014-06-04-hello-world",
        "hello-world",
        "2014-06-04",
        "Hello world",
    )


def test_front_matter_date_and_slug_win_over_file_name() -> None:
    p = post(
        "_posts/2014-06-04-hello.markdown",
        '---\ndate: "2018-08-01 15:00:00 +0200"\nslug: custom\n---\nx\n',
    )
    assert (p.slug, p.date) == ("custom", "2018-08-01T15:00:00+02:00")


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2020-01-02", "2020-01-02"),
        ("2020-01-02 03:04:05", "2020-01-02T03:04:05"),
        ("2020-01-02T03:04:05Z", "2020-01-02T03:04:05+00:00"),
        ('"2020-01-02 03:04 -0500"', "2020-01-02T03:04:00-05:00"),
        ('"2020/01/02"', "2020-01-02"),
        ('"January 2, 2020"', "2020-01-02"),
    ],
)
def test_dates_are_iso(written: str, expected: str) -> None:
    p = post("a.md", f"---\ndate: {written}\nlastmod: {written}\n---\n")
    assert p.date == expected
    assert p.updated == expected


def test_unparseable_date_falls_back_to_file_name() -> None:
    p = post("_posts/2020-02-03-x.md", "---\ndate: sometime soon\n---\n")
    assert p.date == "2020-02-03"
    assert p.front_matter["date"] == "sometime soon"
    assert post("x.md", "---\ndate: 12\n---\n").date is None


def test_invalid_date_prefix_is_part_of_the_slug() -> None:
    p = post("_posts/2020-13-45-x.md", "")
    assert (p.slug, p.date) == ("2020-13-45-x", None)


@pytest.mark.parametrize(
    ("key", "value"), [("updated", "2021-05-06"), ("last_modified_at", "2021-05-06")]
)
def test_updated_keys(key: str, value: str) -> None:
    assert post("a.md", f"---\n{key}: {value}\n---\n").updated == value


def test_page_bundle_index() -> None:
    p = post("content/posts/my-trip/index.md", "# Trip\n\n![Pic](pic.jpg)\n")
    assert (p.id, p.slug, p.path, p.title) == (
        "content/posts/my-trip",
        "my-trip",
        "content/posts/my-trip/index.md",
        "Trip",
    )
    assert p.images[0].path == "content/posts/my-trip/pic.jpg"
    assert p.sections[0].id == "content/posts/my-trip#trip"


def test_hugo_branch_bundle_and_dated_bundle() -> None:
    assert post("content/posts/_index.md", "").id == "content/posts"
    p = post("posts/2019-03-04-launch/index.md", "")
    assert (p.id, p.slug, p.date) == ("posts/2019-03-04-launch", "launch", "2019-03-04")


def test_plain_file_keeps_case_and_posix_separators() -> None:
    p = post("Docs\\Getting_Started.MD", "Hello")
    assert (p.id, p.slug, p.path, p.title) == (
        "Docs/Getting_Started",
        "Getting_Started",
        "Docs/Getting_Started.MD",
        "Getting Started",
    )
    assert post("index.md", "").id == "index"


def test_title_precedence() -> None:
    assert post("a.md", "---\ntitle: FM\n---\n# H1\n").title == "FM"
    assert post("a.md", "## H2 first\n\n# The H1\n").title == "The H1"
    assert post("some-file_name.md", "## only h2\n").title == "Some file name"
    assert post("a.md", "---\ntitle: 2024\n---\n").title == "2024"


# --- front matter fields ---------------------------------------------------------------


def test_authors_tags_categories() -> None:
    p = post(
        "a.md",
        "---\nauthor: parkr\nauthors: [Ann, {name: Bob, url: x}, parkr]\n"
        "tags: ruby jekyll  release\ntag: extra\ncategories: [team, community]\n"
        "category: release notes\n---\n",
    )
    assert p.authors == ["parkr", "Ann", "Bob"]
    assert p.tags == ["extra", "ruby", "jekyll", "release"]
    assert p.categories == ["release notes", "team", "community"]
    assert post("a.md", "---\ntags: a b, c d\n---\n").tags == ["a b", "c d"]
    assert post("a.md", "---\nauthor: {name: Zed}\n---\n").authors == ["Zed"]


def test_description_summary_and_excerpt() -> None:
    p = post("a.md", "---\nsummary: Short.\n---\n# T\n\nFirst *para*.\n\nSecond.\n")
    assert (p.description, p.excerpt) == ("Short.", "First para.")
    p = post("a.md", "---\ndescription: D\nexcerpt: 'An **excerpt** {{ page.x }}'\n---\nBody\n")
    assert (p.description, p.excerpt) == ("D", "An excerpt")


def test_excerpt_is_trimmed_at_a_word_boundary() -> None:
    words = " ".join(f"word{i}" for i in range(200))
    p = post("a.md", words + "\n\nSecond paragraph.\n")
    assert len(p.excerpt) <= 301
    assert p.excerpt.endswith("\u2026")
    stem = p.excerpt[:-1]
    assert words.startswith(stem)
    assert words[len(stem)] == " "  # cut between words


@pytest.mark.parametrize(
    ("path", "front", "draft"),
    [
        ("a.md", "draft: true", True),
        ("a.md", "draft: 'true'", True),
        ("a.md", "draft: false", False),
        ("a.md", "published: false", True),
        ("a.md", "published: true", False),
        ("_drafts/a.md", "title: x", True),
        ("blog/_drafts/a.md", "title: x", True),
        ("_drafts.md", "title: x", False),
    ],
)
def test_drafts(path: str, front: str, draft: bool) -> None:
    assert post(path, f"---\n{front}\n---\nx\n").draft is draft


def test_counts_html_text_sections_and_hash() -> None:
    body = "---\ntitle: T\ntags: [x]\n---\nIntro.\n\n## Part\n\n" + "word " * 401 + "\n"
    data = body.encode()
    p = parse_post("notes/t.md", data)
    assert p.word_count == 403
    assert p.reading_time == 3
    assert '<h2 id="part">Part</h2>' in p.html
    assert p.text.startswith("Intro.\n\nPart\n\nword word")
    assert [(s.id, s.post_id, s.anchor, s.heading, s.level, s.position) for s in p.sections] == [
        ("notes/t#", "notes/t", "", "", 0, 0),
        ("notes/t#part", "notes/t", "part", "Part", 2, 1),
    ]
    assert p.front_matter == {"title": "T", "tags": ["x"]}
    assert p.content_sha256 == hashlib.sha256(data).hexdigest()
    empty = post("e.md", "---\ntitle: Empty\n---\n")
    assert (empty.word_count, empty.reading_time, empty.sections) == (0, 0, [])


def test_front_matter_is_json_safe_in_the_post() -> None:
    p = post("a.md", "---\ndate: 2020-01-02 03:04:05\nn: .nan\nseen: !!set {a: null}\n---\n")
    assert p.front_matter == {"date": "2020-01-02T03:04:05", "n": None, "seen": ["a"]}
    Post.model_validate_json(p.model_dump_json())


def test_bom_and_crlf() -> None:
    p = parse_post("a.md", b"\xef\xbb\xbf---\r\ntitle: T\r\n---\r\nHello\r\n")
    assert (p.title, p.text) == ("T", "Hello")


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"caf\xe9", "not UTF-8 text: invalid byte 0xe9 at offset 3"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8 text (contains NUL bytes"),
        ("\ufeffhi".encode("utf-16"), "not UTF-8 text"),
        (b"---\ntitle: [\n---\n", "invalid YAML front matter: line 3"),
        (b"---\n- a list\n---\n", "YAML front matter must be a mapping"),
        (b"+++\nx = \n+++\n", "invalid TOML front matter: line 2"),
        (b'{"title": }', "invalid JSON front matter"),
        (b"---\ntitle: x\n", "unterminated YAML front matter"),
        (b"> " * 10_000 + b"deep", "nested too deeply"),
        (b"".join(b"  " * i + b"- item\n" for i in range(300)), "nested too deeply"),
    ],
)
def test_bad_input_raises_post_parse_error_with_reason(data: bytes, reason: str) -> None:
    with pytest.raises(PostParseError) as info:
        parse_post("bad.md", data)
    assert reason in str(info.value)


def test_recursion_error_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_args: object, **_kwargs: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr("pressroom.content.posts.render", explode)
    with pytest.raises(PostParseError, match=r"nested too deeply.*recursion limit"):
        post("a.md", "x")


def test_unexpected_errors_become_post_parse_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(render_module, "count_words", broken)
    with pytest.raises(PostParseError, match="unexpected parser error: KeyError"):
        post("a.md", "x")


def test_path_outside_the_repository_is_rejected() -> None:
    with pytest.raises(PostParseError, match="not a repository-relative path"):
        post("../escape.md", "x")


_PIECES = st.sampled_from(
    [
        "{%", "%}", "{{", "}}", "{% raw %}", "{% endraw %}", "{{< x >}}", "{{% /y %}}", "---",
        "+++", "{", "}", "\n", "\n\n", "# ", "> ", "- ", "1. ", "```", "~~~", "`", "*", "_",
        "[", "]", "(", ")", "![", "<img src=x>", "<a href=y>", "</a>", "<div markdown=1>",
        "{: #id}", "|", "|---|", "[^1]", "&amp;", "word", " ", "\t", "\r\n", "\ufeff", "日本",
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(_PIECES, max_size=60).map("".join))
def test_any_input_parses_or_fails_cleanly(text: str) -> None:
    try:
        p = parse_post("fuzz/_posts/2020-01-01-f.md", text.encode())
    except PostParseError as exc:
        assert str(exc)
        return
    assert "{%" not in p.text and "{{" not in p.text
    anchors = [s.anchor for s in p.sections]
    assert len(anchors) == len(set(anchors))
    assert p.date == "2020-01-01"


# --- the real corpus ---------------------------------------------------------------------


def test_whole_jekyll_corpus() -> None:
    files = sorted(p.relative_to(JEKYLL).as_posix() for p in JEKYLL.rglob("*") if p.is_file())
    known = frozenset(files)
    sources = {f: (JEKYLL / f).read_bytes() for f in files if is_post_path(f)}
    assert len(sources) > 150

    started = time.perf_counter()
    posts: list[Post] = []
    failures: list[tuple[str, str]] = []
    for rel, data in sources.items():
        try:
            posts.append(parse_post(rel, data, known_files=known))
        except PostParseError as exc:  # allowed, but must carry a reason
            failures.append((rel, str(exc)))
    elapsed = time.perf_counter() - started
    print(
        f"\nparsed {len(posts)} posts ({sum(map(len, sources.values()))} bytes) in {elapsed:.3f}s"
    )

    assert all(reason for _, reason in failures)
    assert len(posts) + len(failures) == len(sources)
    assert not failures, failures  # this corpus is clean: nothing should fail
    assert elapsed < 10  # about 0.5 s here; generous for slow CI machines

    for p in posts:
        assert "{%" not in p.text and "{{" not in p.text, p.path
        for section in p.sections:
            assert "{%" not in section.text and "{{" not in section.text, p.path
        anchors = [s.anchor for s in p.sections]
        assert len(anchors) == len(set(anchors)), p.path
        assert [s.position for s in p.sections] == list(range(len(p.sections)))
        assert p.title, p.path
        assert p.word_count > 0, p.path

    dated = [p for p in posts if p.path.startswith("docs/_posts/")]
    assert len(dated) > 90
    for p in dated:
        name_date = re.match(r"docs/_posts/(\d{4}-\d{2}-\d{2})-", p.path)
        assert name_date and p.date, p.path
        if "date" not in p.front_matter:  # from the file name alone
            assert p.date == name_date.group(1), p.path
        assert not re.match(r"\d{4}-\d{2}-\d{2}-", p.slug), p.path
    assert sum("date" not in p.front_matter for p in dated) >= 3

    resolved = {i.path for p in posts for i in p.images if i.src.startswith("/")}
    assert {"docs/img/jekyll-sticker.png", "docs/img/forestry-logo.svg"} <= resolved
    assert all(path in known for path in resolved)

    history = next(p for p in posts if p.path == "docs/_docs/history.md")
    assert history.sections[0].anchor == "v4-4-1"  # kramdown {: #id} honoured
    external = [link for link in history.links if link.url.startswith("{{site.repository}}")]
    assert len(external) > 1000 and not any(link.internal for link in external)
