"""Zola's rules (pressroom.conventions.zola) on small in-memory trees."""

from __future__ import annotations

from pressroom.conventions.detect import detect_profile
from pressroom.conventions.place import media_url, place_page
from pressroom.conventions.profile import Page, SiteProfile

CONFIG = b'base_url = "https://example.org/blog"\n[extra]\nauthor = "Owner"\n'


def profile(files: dict[str, bytes]) -> SiteProfile:
    return detect_profile(list(files), files.__getitem__)


def site(extra: dict[str, bytes] | None = None) -> SiteProfile:
    return profile({"config.toml": CONFIG, "content/_index.md": b"", **(extra or {})})


def test_detected_with_base_url_path() -> None:
    zola = site()
    assert zola.name == "zola"
    assert zola.base_url == "https://example.org/blog/"


def test_date_in_file_name_is_the_date_and_leaves_the_slug() -> None:
    placed = place_page(site(), Page("content/posts/2018-10-10-hello-world.md", {}))
    assert placed.url == "https://example.org/blog/posts/hello-world/"
    assert placed.date == "2018-10-10"


def test_date_in_bundle_folder_with_underscore_and_front_matter_date_wins() -> None:
    meta = {"date": "2021-08-21T06:00:00Z"}
    placed = place_page(site(), Page("content/posts/2021-08-20_trip/index.md", meta))
    assert placed.url == "https://example.org/blog/posts/trip/"
    assert placed.date == "2021-08-21T06:00:00+00:00"


def test_slug_is_slugified_and_keeps_the_section() -> None:
    placed = place_page(site(), Page("content/posts/x.md", {"slug": "Hello & World"}))
    assert placed.url == "https://example.org/blog/posts/hello-world/"


def test_path_overrides_section_and_slug_as_written() -> None:
    meta = {"path": "2014/12/12/1.0-Timeline", "aliases": ["/old/", "2014/x.html"]}
    placed = place_page(site(), Page("content/posts/timeline.md", meta))
    assert placed.url == "https://example.org/blog/2014/12/12/1.0-Timeline/"
    assert placed.aliases == ["/old/", "/2014/x.html"]
    assert placed.date == "2014-12-12"  # from the URL path: written nowhere else


def test_sections_render_false_and_root() -> None:
    zola = site()
    assert place_page(zola, Page("content/_index.md", {})).url == "https://example.org/blog/"
    assert place_page(zola, Page("content/notes/_index.md", {"render": False})).url is None
    assert place_page(zola, Page("content/about.md", {"render": False})).url is None


def test_draft_taxonomies_authors_and_updated() -> None:
    meta = {
        "draft": True,
        "updated": "2021-09-01",
        "taxonomies": {"tags": ["rust"], "categories": ["news"]},
        "extra": {"author": "John Roe"},
    }
    placed = place_page(site(), Page("content/posts/a.md", meta))
    assert placed.draft is True
    assert (placed.tags, placed.categories) == (["rust"], ["news"])
    assert placed.authors == ["John Roe"]
    assert placed.updated == "2021-09-01"
    top = place_page(
        site(), Page("content/posts/b.md", {"authors": ["Jane"], "extra": {"author": "X"}})
    )
    assert top.authors == ["Jane"]


def test_slugify_off_and_keep_dates() -> None:
    config = CONFIG + b'[slugify]\npaths = "off"\npaths_keep_dates = true\n'
    zola = profile({"config.toml": config})
    placed = place_page(zola, Page("content/Posts/2020-01-02-My Post.md", {}))
    assert placed.url == "https://example.org/blog/Posts/2020-01-02-My%20Post/"
    assert placed.date == "2020-01-02"


def test_translation_is_under_its_language() -> None:
    zola = profile({"config.toml": CONFIG.replace(b"[extra]", b"[languages.fr]\n[extra]")})
    assert place_page(zola, Page("content/posts/a.fr.md", {})).url == (
        "https://example.org/blog/fr/posts/a/"
    )


def test_media_static_and_beside_a_moved_bundle() -> None:
    zola = site(
        {
            "static/img/logo.png": b"",
            "content/posts/2021-08-05-trip/index.md": b'+++\nslug = "voyage"\n+++\n',
            "content/posts/2021-08-05-trip/maps/map.png": b"",
            "content/posts/plain/index.md": b"+++\n+++\n",
            "content/posts/plain/a.jpg": b"",
        }
    )
    assert media_url(zola, "static/img/logo.png") == "https://example.org/blog/img/logo.png"
    assert media_url(zola, "content/posts/2021-08-05-trip/maps/map.png") == (
        "https://example.org/blog/posts/voyage/maps/map.png"
    )
    assert (
        media_url(zola, "content/posts/plain/a.jpg") == "https://example.org/blog/posts/plain/a.jpg"
    )
    assert media_url(zola, "templates/x.png") is None


def test_broken_config_is_a_note() -> None:
    zola = detect_profile(
        ["config.toml"], {"config.toml": b"base_url = 'x\n"}.__getitem__, name="zola"
    )
    assert zola.name == "zola"
    assert zola.base_url is None
    assert any(c.startswith("note: config.toml: not readable") for c in zola.contributed)
    assert place_page(zola, Page("content/a.md", {})).url == "/a/"
