"""Jekyll's documented permalink rules (https://jekyllrb.com/docs/permalinks/)."""

from __future__ import annotations

from tests.unit.conventions.sites import placed, profile_of


def test_posts_follow_the_default_date_style_with_categories() -> None:
    profile = profile_of({"_posts/2013-05-06-hello-world.md": ""})
    post = placed(profile, "_posts/2013-05-06-hello-world.md", "---\ncategory: Release\n---\n")
    assert (post.url, post.date) == ("/release/2013/05/06/hello-world.html", "2013-05-06")


def test_front_matter_date_and_time_beat_the_file_name() -> None:
    profile = profile_of({"_posts/2013-05-06-a.md": ""})
    text = '---\ndate: "2013-05-08 02:12:52 +0200"\n---\n'
    post = placed(profile, "_posts/2013-05-06-a.md", text)
    assert post.url == "/2013/05/08/a.html"
    assert post.date == "2013-05-08T02:12:52+02:00"


def test_config_permalink_styles_and_patterns_and_base_url() -> None:
    files = {
        "_config.yml": "url: https://blog.example.org\nbaseurl: /sub\npermalink: pretty\n",
        "_posts/2020-02-03-x.md": "",
    }
    profile = profile_of(files)
    assert profile.base_url == "https://blog.example.org/sub/"
    post = placed(profile, "_posts/2020-02-03-x.md", "---\ncategories: [a, B]\n---\n")
    assert post.url == "https://blog.example.org/sub/a/b/2020/02/03/x/"
    files["_config.yml"] = "permalink: /news/:year/:title/\n"
    assert placed(profile_of(files), "_posts/2020-02-03-x.md", "").url == "/news/2020/x/"


def test_a_pages_own_permalink_and_redirects() -> None:
    profile = profile_of({"_posts/2020-01-01-a.md": ""})
    text = "---\npermalink: /docs/home/\nredirect_from:\n  - /docs/index.html\n---\n"
    page = placed(profile, "_docs/home.md", text)
    assert (page.url, page.aliases) == ("/docs/home/", ["/docs/index.html"])


def test_collections_and_pages_use_the_documented_defaults() -> None:
    profile = profile_of({"_posts/2020-01-01-a.md": ""})
    assert placed(profile, "_docs/step-by-step/01-setup.md", "").url == (
        "/docs/step-by-step/01-setup.html"
    )
    assert placed(profile, "about.md", "").url == "/about.html"
    assert placed(profile, "blog/index.md", "").url == "/blog/"


def test_drafts_and_static_files() -> None:
    from pressroom.conventions.place import media_url

    profile = profile_of({"_posts/2020-01-01-a.md": "", "img/logo.png": ""})
    assert placed(profile, "_drafts/idea.md", "").draft is True
    assert media_url(profile, "img/logo.png") == "/img/logo.png"
    assert media_url(profile, "_includes/x.png") is None
