"""Hugo's documented URL and date rules (https://gohugo.io/content-management/urls/)."""

from __future__ import annotations

from pressroom.conventions.place import media_url
from tests.unit.conventions.sites import placed, profile_of

CONFIG = 'baseURL = "https://example.org/"\n'


def test_pages_sections_and_bundles() -> None:
    profile = profile_of({"hugo.toml": CONFIG})
    assert placed(profile, "content/posts/My Post.md", "").url == (
        "https://example.org/posts/my-post/"
    )
    assert placed(profile, "content/posts/_index.md", "").url == "https://example.org/posts/"
    assert placed(profile, "content/posts/trip/index.md", "").url == (
        "https://example.org/posts/trip/"
    )
    assert placed(profile, "content/_index.md", "").url == "https://example.org/"
    assert placed(profile, "README.md", "").url is None  # not content: no page


def test_slug_url_and_aliases() -> None:
    profile = profile_of({"hugo.toml": CONFIG})
    assert placed(profile, "content/a/b.md", "---\nslug: Other\n---\n").url == (
        "https://example.org/a/other/"
    )
    page = placed(profile, "content/a/b.md", "---\nurl: /Custom/Path/\naliases: [/old/]\n---\n")
    assert (page.url, page.aliases) == ("https://example.org/Custom/Path/", ["/old/"])


def test_permalinks_config_and_dates() -> None:
    config = CONFIG + '[permalinks]\nposts = "/:year/:month/:slug/"\n'
    profile = profile_of({"hugo.toml": config})
    text = "---\ndate: 2021-03-04\nlastmod: 2022-01-01\n---\n"
    page = placed(profile, "content/posts/x.md", text)
    assert (page.url, page.date, page.updated) == (
        "https://example.org/2021/03/x/",
        "2021-03-04",
        "2022-01-01",
    )


def test_filename_dates_when_configured() -> None:
    config = CONFIG + "[frontmatter]\ndate = [':filename', ':default']\n"
    profile = profile_of({"hugo.toml": config})
    page = placed(profile, "content/posts/2020-05-06-launch.md", "")
    assert (page.url, page.date) == ("https://example.org/posts/launch/", "2020-05-06")


def test_content_dir_from_module_mounts_and_headless_sections() -> None:
    config = CONFIG + "[[module.mounts]]\nsource = 'content/en'\ntarget = 'content'\n"
    files = {
        "hugo.toml": config,
        "content/en/_common/_index.md": "---\ncascade:\n  build:\n    render: never\n---\n",
        "content/en/_common/snippet.md": "",
    }
    profile = profile_of(files)
    assert placed(profile, "content/en/docs/a.md", "").url == "https://example.org/docs/a/"
    assert placed(profile, "content/en/_common/snippet.md", "").url is None
    assert placed(profile, "content/en/x.md", "---\nbuild:\n  render: never\n---\n").url is None


def test_media_in_bundles_and_static() -> None:
    profile = profile_of({"hugo.toml": CONFIG})
    assert media_url(profile, "static/images/a.png") == "https://example.org/images/a.png"
    assert media_url(profile, "content/posts/Trip/cat.jpg") == (
        "https://example.org/posts/trip/cat.jpg"
    )
