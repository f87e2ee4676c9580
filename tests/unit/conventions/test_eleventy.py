"""Eleventy's rules (pressroom.conventions.eleventy) on small in-memory trees."""

from __future__ import annotations

from pressroom.conventions.detect import detect_profile
from pressroom.conventions.place import media_url, place_page
from pressroom.conventions.profile import Page, SiteProfile

CONFIG = b"""module.exports = function (eleventyConfig) {
  eleventyConfig.addPassthroughCopy("src/img");
  eleventyConfig.addPassthroughCopy({ "assets/static": "static" });
  return { dir: { input: "src", output: "_site" }, pathPrefix: "/blog/" };
};
"""


def profile(files: dict[str, bytes], **kwargs: str) -> SiteProfile:
    return detect_profile(list(files), files.__getitem__, **kwargs)


def site(config: bytes = CONFIG) -> SiteProfile:
    return profile({".eleventy.js": config})


def test_input_dir_and_path_prefix() -> None:
    eleventy = site()
    assert eleventy.name == "eleventy"
    assert eleventy.base_url is None
    assert place_page(eleventy, Page("src/about.md", {})).url == "/blog/about/"
    assert place_page(eleventy, Page("src/index.md", {})).url == "/blog/"
    assert place_page(eleventy, Page("README.md", {})).url is None
    assert place_page(eleventy, Page("src/_includes/layout.md", {})).url is None


def test_date_in_file_name_stays_in_the_default_url() -> None:
    placed = place_page(site(), Page("src/posts/2021-08-01-first-post.md", {}))
    assert placed.url == "/blog/posts/2021-08-01-first-post/"
    assert placed.date == "2021-08-01"


def test_date_in_folder_and_front_matter_date() -> None:
    eleventy = site()
    folder = place_page(eleventy, Page("src/posts/2021-08-10-trip/index.md", {}))
    assert folder.url == "/blog/posts/2021-08-10-trip/"
    assert folder.date == "2021-08-10"
    written = place_page(eleventy, Page("src/posts/2021-08-10-x.md", {"date": "2021-09-01"}))
    assert written.date == "2021-09-01"
    same = place_page(eleventy, Page("src/posts/notes/notes.md", {}))
    assert same.url == "/blog/posts/notes/"


def test_permalinks_static_templates_and_false() -> None:
    eleventy = site()
    path = "src/posts/2021-08-05-short-notes.md"
    cases = {
        "/notes/{{ page.fileSlug }}/": "/blog/notes/short-notes/",
        "/p/{{ title | slugify }}/index.html": "/blog/p/short-notes-title/",
        "/{{ page.date | date: '%Y/%m/%d' }}/x/": "/blog/2021/08/05/x/",
        "{{ page.filePathStem }}.html": "/blog/posts/2021-08-05-short-notes.html",
        "/archive/old.html": "/blog/archive/old.html",
        "/{{ slug }}/": "/blog/custom/",
        "/{{ title | unknownFilter }}/": None,
        "/{% if x %}a{% endif %}/": None,
    }
    for permalink, url in cases.items():
        meta = {"permalink": permalink, "slug": "custom", "title": "Short notes title"}
        assert place_page(eleventy, Page(path, meta)).url == url, permalink
    assert place_page(eleventy, Page(path, {"permalink": False})).url is None


def test_tags_string_is_one_tag_and_draft_left_to_front_matter() -> None:
    placed = place_page(site(), Page("src/a.md", {"tags": "my posts", "draft": True}))
    assert placed.tags == ["my posts"]
    assert placed.draft is None


def test_media_keeps_its_path_and_passthrough_maps() -> None:
    eleventy = site()
    assert media_url(eleventy, "src/img/a.png") == "/blog/img/a.png"
    assert media_url(eleventy, "assets/static/b.png") == "/blog/static/b.png"
    named = profile({".eleventy.js": CONFIG}, base_url="https://x.org/")
    assert media_url(named, "src/img/a.png") == "https://x.org/img/a.png"


def test_input_from_set_input_directory_and_package_scripts() -> None:
    v3 = site(b'export default function (c) { c.setInputDirectory("content"); }')
    assert place_page(v3, Page("content/a.md", {})).url == "/a/"
    files = {
        "eleventy.config.js": b"export default function () {}",
        "package.json": b'{"scripts": {"build": "npx @11ty/eleventy --input=site"}}',
    }
    assert place_page(profile(files), Page("site/a.md", {})).url == "/a/"


def test_broken_package_json_and_odd_config_are_not_errors() -> None:
    files = {"eleventy.config.mjs": b"\x00\xff{{", "package.json": b"{not json"}
    eleventy = profile(files)
    assert place_page(eleventy, Page("a.md", {})).url == "/a/"
    assert any(c.startswith("note: package.json: not readable") for c in eleventy.contributed)
