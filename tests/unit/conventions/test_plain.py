"""A plain folder: each post at its path, a date from the URL path when written nowhere
else, author keys and the `by` field."""

from __future__ import annotations

from pressroom.content.posts import parse_post
from tests.unit.conventions.sites import placed, profile_of


def test_posts_at_their_paths() -> None:
    profile = profile_of({"blog/a.md": ""})
    assert placed(profile, "blog/a.md", "").url == "/blog/a"
    assert placed(profile, "blog/trip/index.md", "").url == "/blog/trip/"


def test_a_date_written_only_in_the_path_is_read_from_it() -> None:
    profile = profile_of({"2014/12/12/launch.md": ""})
    assert placed(profile, "2014/12/12/launch.md", "").date == "2014-12-12"
    assert placed(profile, "2014/13/45/launch.md", "").date is None


def test_a_parsed_post_carries_url_summary_and_authors() -> None:
    profile = profile_of({"blog/a.md": ""}, base_url="https://go.dev")
    text = "---\ntitle: A\nby: [Rob Pike, Russ Cox]\nsummary: Short.\n---\n\nFirst words.\n"
    post = parse_post("blog/a.md", text.encode(), profile=profile)
    assert (post.url, post.authors, post.summary) == (
        "https://go.dev/blog/a",
        ["Rob Pike", "Russ Cox"],
        "Short.",
    )
    untitled = parse_post("blog/b.md", b"First paragraph here.\n\nSecond.\n", profile=profile)
    assert untitled.summary == "First paragraph here."
