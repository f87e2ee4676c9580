"""MkDocs' rules with Material's blog plugin (pressroom.conventions.mkdocs), in memory."""

from __future__ import annotations

from pressroom.conventions.detect import detect_profile
from pressroom.conventions.place import media_url, place_page
from pressroom.conventions.profile import Page, SiteProfile

CONFIG = b"""site_name: x
site_url: https://docs.example.com/project/
markdown_extensions:
  - toc:
      slugify: !!python/name:pymdownx.slugs.uslugify
plugins:
  - search
  - blog
"""
AUTHORS = b"authors:\n  jdoe:\n    name: Jane Doe\n    avatar: x.png\n"
BASE = "https://docs.example.com/project"


def profile(files: dict[str, bytes]) -> SiteProfile:
    return detect_profile(list(files), files.__getitem__)


def site(config: bytes = CONFIG, extra: dict[str, bytes] | None = None) -> SiteProfile:
    return profile({"mkdocs.yml": config, "docs/blog/.authors.yml": AUTHORS, **(extra or {})})


def test_detected_with_site_url_and_authors() -> None:
    mkdocs = site()
    assert mkdocs.name == "mkdocs"
    assert mkdocs.base_url == f"{BASE}/"
    assert mkdocs.authors == {"jdoe": "Jane Doe"}


def test_pages_index_and_readme() -> None:
    mkdocs = site(extra={"docs/a/README.md": b"", "docs/b/README.md": b"", "docs/b/index.md": b""})
    assert place_page(mkdocs, Page("docs/index.md", {})).url == f"{BASE}/"
    assert place_page(mkdocs, Page("docs/guide/setup.md", {})).url == f"{BASE}/guide/setup/"
    assert place_page(mkdocs, Page("docs/a/README.md", {})).url == f"{BASE}/a/"
    assert place_page(mkdocs, Page("docs/b/README.md", {})).url is None  # index.md wins
    assert place_page(mkdocs, Page("docs/.hidden/x.md", {})).url is None
    assert place_page(mkdocs, Page("README.md", {})).url is None


def test_post_slug_from_title_with_the_date_and_authors() -> None:
    meta = {"date": "2021-08-10", "authors": ["jdoe"], "categories": ["News"]}
    page = Page("docs/blog/posts/2021/2020-01-01-x.md", meta, title="Release 1.0 is out")
    placed = place_page(site(), page)
    assert placed.url == f"{BASE}/blog/2021/08/10/release-10-is-out/"
    assert placed.date == "2021-08-10"  # the date in the file name plays no part
    assert placed.authors == ["Jane Doe"]


def test_created_updated_dates_and_slug_metadata() -> None:
    meta = {"date": {"created": "2021-08-10", "updated": "2021-08-12"}, "slug": "mine"}
    placed = place_page(site(), Page("docs/blog/posts/a.md", meta, title="T"))
    assert placed.url == f"{BASE}/blog/2021/08/10/mine/"
    assert (placed.date, placed.updated) == ("2021-08-10", "2021-08-12")


def test_post_without_date_is_no_page_and_draft_left_to_front_matter() -> None:
    assert place_page(site(), Page("docs/blog/posts/a.md", {}, title="T")).url is None
    draft = place_page(site(), Page("docs/blog/posts/b.md", {"date": "2021-01-01", "draft": True}))
    assert draft.draft is None


def test_blog_settings_and_no_directory_urls() -> None:
    config = b"""site_url: https://x.org
docs_dir: src
use_directory_urls: false
plugins:
  - material/blog:
      blog_dir: news
      post_url_format: "{categories}/{date}/{file}"
      post_url_date_format: yyyy/MM
      post_slugify: !!python/object/apply:pymdownx.slugs.slugify
        kwds:
          case: lower
"""
    mkdocs = site(config)
    meta = {"date": "2021-08-10T12:00:00", "categories": ["Big News", "Other"]}
    placed = place_page(mkdocs, Page("src/news/posts/hello.md", meta, title="Ünïcode"))
    assert placed.url == "https://x.org/news/big-news/2021/08/hello.html"
    assert place_page(mkdocs, Page("src/news/index.md", {})).url == "https://x.org/news/index.html"
    assert place_page(mkdocs, Page("src/a.md", {})).url == "https://x.org/a.html"
    unicode = config.replace(b'"{categories}/{date}/{file}"', b"'{slug}'")
    slugged = place_page(site(unicode), Page("src/news/posts/x.md", meta, title="Ünïcode Post"))
    assert slugged.url == "https://x.org/news/ünïcode-post.html".replace("ü", "%C3%BC").replace(
        "ï", "%C3%AF"
    )


def test_blog_at_the_docs_root() -> None:
    config = b"site_url: https://x.org/\nplugins:\n  - blog:\n      blog_dir: .\n"
    mkdocs = profile({"mkdocs.yml": config, "docs/.authors.yml": AUTHORS})
    assert mkdocs.authors == {"jdoe": "Jane Doe"}
    placed = place_page(mkdocs, Page("docs/posts/a.md", {"date": "2021-01-02"}, title="A b"))
    assert placed.url == "https://x.org/2021/01/02/a-b/"


def test_media_under_docs_dir() -> None:
    mkdocs = site()
    assert media_url(mkdocs, "docs/img/logo.png") == f"{BASE}/img/logo.png"
    assert media_url(mkdocs, "docs/blog/posts/trip/photo.png") == (
        f"{BASE}/blog/posts/trip/photo.png"
    )
    assert media_url(mkdocs, "overrides/x.png") is None


def test_broken_config_is_a_note() -> None:
    mkdocs = profile({"mkdocs.yml": b"site_url: [unclosed\n", "docs/a.md": b""})
    assert mkdocs.name == "mkdocs"
    assert mkdocs.base_url is None
    assert any(c.startswith("note: mkdocs.yml: not readable") for c in mkdocs.contributed)
    assert place_page(mkdocs, Page("docs/a.md", {})).url == "/a/"
