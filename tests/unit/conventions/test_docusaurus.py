"""Docusaurus' rules (pressroom.conventions.docusaurus) on small in-memory trees."""

from __future__ import annotations

from pressroom.conventions.detect import detect_profile
from pressroom.conventions.place import media_url, place_page
from pressroom.conventions.profile import Page, SiteProfile

CONFIG = b"""module.exports = {
  url: 'https://example.net',
  baseUrl: '/site/',
  presets: [['classic', {
    docs: { routeBasePath: '/guide', sidebarPath: './sidebars.js' },
    blog: { showReadingTime: true },
  }]],
};
"""
AUTHORS = b"jdoe:\n  name: Jane Doe\n  title: Maintainer\nrroe:\n  name: Richard Roe\n"


def profile(files: dict[str, bytes]) -> SiteProfile:
    return detect_profile(list(files), files.__getitem__)


def site(config: bytes = CONFIG) -> SiteProfile:
    return profile({"docusaurus.config.js": config, "blog/authors.yml": AUTHORS})


def test_detected_with_base_url_and_authors() -> None:
    docs = site()
    assert docs.name == "docusaurus"
    assert docs.base_url == "https://example.net/site/"
    assert docs.authors == {"jdoe": "Jane Doe", "rroe": "Richard Roe"}


def test_date_in_file_name_and_in_folder_name() -> None:
    docs = site()
    placed = place_page(docs, Page("blog/2021-08-01-welcome.md", {"authors": "jdoe"}))
    assert placed.url == "https://example.net/site/blog/2021/08/01/welcome"
    assert placed.date == "2021-08-01"
    assert placed.authors == ["Jane Doe"]
    bundle = place_page(docs, Page("blog/2021-08-26-bundle/index.mdx", {}))
    assert bundle.url == "https://example.net/site/blog/2021/08/26/bundle"
    assert bundle.date == "2021-08-26"


def test_slug_and_front_matter_date() -> None:
    docs = site()
    meta = {"slug": "/news/big", "date": "2021-11-05T14:00:00+01:00"}
    placed = place_page(docs, Page("blog/2021-09-10-x.md", meta))
    assert placed.url == "https://example.net/site/blog/news/big"
    assert placed.date == "2021-11-05T14:00:00+01:00"
    undated = place_page(docs, Page("blog/notes/plain.md", {}))
    assert undated.url == "https://example.net/site/blog/notes/plain"
    assert undated.date is None


def test_inline_and_keyed_authors_draft_and_unlisted() -> None:
    docs = site()
    meta = {
        "authors": [{"name": "Inline Person"}, {"key": "rroe", "title": "Guest"}],
        "draft": True,
    }
    placed = place_page(docs, Page("blog/a.md", meta))
    assert placed.authors == ["Inline Person", "Richard Roe"]
    assert placed.draft is True
    assert place_page(docs, Page("blog/b.md", {"unlisted": True})).draft is None


def test_docs_number_prefixes_id_slug_and_category_index() -> None:
    docs = site()
    base = "https://example.net/site/guide"
    assert place_page(docs, Page("docs/01-intro.md", {})).url == f"{base}/intro"
    assert place_page(docs, Page("docs/02-guides/01-setup.md", {})).url == f"{base}/guides/setup"
    assert place_page(docs, Page("docs/02-guides/index.md", {})).url == f"{base}/guides/"
    assert place_page(docs, Page("docs/02-guides/02-Guides.md", {})).url == f"{base}/guides/"
    assert place_page(docs, Page("docs/02-guides/x.md", {"id": "why"})).url == f"{base}/guides/why"
    assert place_page(docs, Page("docs/02-guides/y.md", {"slug": "/top"})).url == f"{base}/top"
    assert place_page(docs, Page("docs/2021-01-05-notes.md", {})).url == f"{base}/2021-01-05-notes"
    updated = place_page(docs, Page("docs/z.md", {"last_update": {"date": "2022-01-20"}}))
    assert (updated.date, updated.updated) == (None, "2022-01-20")


def test_partials_pages_and_other_files() -> None:
    docs = site(CONFIG.replace(b"url: 'https://example.net',", b"trailingSlash: true,"))
    assert docs.base_url is None
    assert place_page(docs, Page("docs/_snippet.md", {})).url is None
    assert place_page(docs, Page("blog/_drafts/a.md", {})).url is None
    assert place_page(docs, Page("src/pages/about.md", {})).url == "/site/about/"
    assert place_page(docs, Page("src/pages/index.md", {})).url == "/site/"
    assert place_page(docs, Page("README.md", {})).url is None


def test_blog_disabled_and_docs_only_mode() -> None:
    config = (
        b"module.exports = { url: 'https://x.org', presets: [['classic', "
        b"{ docs: { routeBasePath: '/' }, blog: false }]] }"
    )
    docs = site(config)
    assert place_page(docs, Page("docs/intro.md", {})).url == "https://x.org/intro"
    assert place_page(docs, Page("blog/2021-01-01-a.md", {})).url is None


def test_media_static_at_base_url_and_bundled_images_unknown() -> None:
    docs = site()
    assert media_url(docs, "static/img/a.png") == "https://example.net/site/img/a.png"
    assert media_url(docs, "blog/2021-08-26-bundle/banner.png") is None


def test_broken_authors_file_is_a_note() -> None:
    docs = profile({"docusaurus.config.js": CONFIG, "blog/authors.yml": b"jdoe: [unclosed"})
    assert docs.authors == {}
    assert any(c.startswith("note: blog/authors.yml: not readable") for c in docs.contributed)
