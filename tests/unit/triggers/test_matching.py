"""Repository keys, content-path semantics (prefix and glob, `**`), content-path validation,
and the per-site build decision with its reason."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pressroom.triggers.matching import (
    Decision,
    PushTarget,
    decide,
    repository_key,
    targets_for,
    touches,
    valid_content_path,
)
from pressroom.triggers.push import Push, read_event
from tests.fakes.push_events import ping_event, push_event

# --- repository keys ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "https://github.com/acme/blog",
        "https://user:tok@GitHub.com/Acme/Blog.git",
        "https://github.com/acme/blog/",
        "https://github.com/acme/blog.git/",
        "http://github.com:80/acme/blog",
        "https://www.github.com/acme/blog",
        "https://github.com/acme/blog?tab=readme",
        "https://github.com/acme/blog#main",
        "https://github.com/acme/blog.git#refs/heads/main",
        "git@github.com:acme/blog.git",
        "git@github.com:acme/blog",
        "github.com:acme/blog.git",
        "ssh://git@github.com:22/acme/blog",
        "ssh://git@github.com/acme/blog.git",
        "ssh://git@github.com:acme/blog",
        "git://github.com/acme/blog.git",
        "github.com/acme/blog",
        "GITHUB.COM/ACME/BLOG.GIT",
        "  https://github.com//acme//blog  ",
        "https://github.com/acme/blog/.git",
    ],
)
def test_the_spellings_of_one_repository_share_a_key(name: str) -> None:
    assert repository_key(name) == "github.com/acme/blog"


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("https://gitlab.com/acme/web/team/blog.git", "gitlab.com/acme/web/team/blog"),
        ("git@gitlab.com:acme/web/team/blog.git", "gitlab.com/acme/web/team/blog"),
        ("acme/web/blog", "acme/web/blog"),
        ("file:///srv/repos/blog.git", "file/srv/repos/blog"),
        ("file://localhost/srv/repos/blog", "file/srv/repos/blog"),
        ("/srv/repos/blog/.git", "file/srv/repos/blog"),
        ("/srv/repos/blog", "file/srv/repos/blog"),
        ("https://git.example.com:8443/acme/blog.git", "git.example.com/acme/blog"),
        ("ssh://git@git.example.com:2222/acme/blog.git", "git.example.com/acme/blog"),
        ("http://[::1]:3000/acme/blog", "[::1]/acme/blog"),
        ("https://github.com/acme/my%20blog", "github.com/acme/my%20blog"),
        ("https://github.com/acme/blog.git.git", "github.com/acme/blog"),
        ("https://github.com/acme/blog.github.io.git", "github.com/acme/blog.github.io"),
    ],
)
def test_repository_keys(name: str, key: str) -> None:
    assert repository_key(name) == key


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "https://github.com",
        "https://github.com/",
        "git@github.com:",
        "/",
        "x\x00y",
        "a\nb",
        "#main",
        "x" * 3000,
    ],
)
def test_names_of_no_repository_are_value_errors(name: str) -> None:
    with pytest.raises(ValueError):
        repository_key(name)


_URLS = st.from_regex(
    r"(https?|ssh|git|file)://([a-z:]+@)?(\[::1\]|[A-Za-z.-]{1,10})(:[0-9]{1,4})?"
    r"(/[A-Za-z0-9 .%#?:~@-]{0,8}){0,4}",
    fullmatch=True,
)


@settings(max_examples=400, deadline=None, database=None)
@given(st.text(max_size=60) | _URLS | st.text(alphabet=":/@[]. #?.gitx0", max_size=20))
def test_any_text_is_a_key_or_a_value_error_and_keys_are_fixed_points(text: str) -> None:
    try:
        key = repository_key(text)
    except ValueError:
        return
    assert key == key.lower() and not key.endswith("/") and "//" not in key
    # The registry may store keys and targets_for keys them again: that changes nothing.
    assert repository_key(key) == key


def test_a_bracketed_host_key_is_a_fixed_point() -> None:
    key = repository_key("http://[::1]:3000/acme/blog")
    assert repository_key(key) == key == "[::1]/acme/blog"


# --- content paths ------------------------------------------------------------------------

CHANGED = [
    "docs",
    "docs/a.md",
    "docs/x/y.md",
    "docs2/a.md",
    "mydocs/a.md",
    "_posts/2024-01-01-hi.md",
    "README.md",
    "src/docs/a.md",
    "content/a.md",
    "content/x/b.md",
    "content/x/y/c.markdown",
]


@pytest.mark.parametrize(
    "path", ["docs", "docs/", "/docs", "./docs", "./docs/", "docs//", "/./docs"]
)
def test_a_plain_path_is_a_folder_or_file_prefix(path: str) -> None:
    assert touches(CHANGED, [path]) == ["docs", "docs/a.md", "docs/x/y.md"]


def test_a_plain_file_path() -> None:
    assert touches(CHANGED, ["README.md"]) == ["README.md"]
    assert touches(["README.md.bak", "README.mdx"], ["README.md"]) == []


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*.md", ["README.md"]),
        ("docs/*.md", ["docs/a.md"]),
        ("docs/**", ["docs/a.md", "docs/x/y.md"]),
        ("docs/**/*.md", ["docs/a.md", "docs/x/y.md"]),
        ("**/docs/*.md", ["docs/a.md", "src/docs/a.md"]),
        ("**/*.markdown", ["content/x/y/c.markdown"]),
        ("content/*", ["content/a.md"]),
        ("content/**", ["content/a.md", "content/x/b.md", "content/x/y/c.markdown"]),
        ("content/**/c.*", ["content/x/y/c.markdown"]),
        ("_posts/????-??-??-*.md", ["_posts/2024-01-01-hi.md"]),
        ("docs[0-9]/*", ["docs2/a.md"]),
        ("docs[!0-9]/*", []),
        ("[dm]*/a.md", ["docs/a.md", "docs2/a.md", "mydocs/a.md"]),
        ("/docs/*.md", ["docs/a.md"]),
        ("./docs/*.md", ["docs/a.md"]),
        ("d*s", ["docs"]),
        (
            "***/*.md",
            [
                "README.md",
                "content/a.md",
                "content/x/b.md",
                "docs/a.md",
                "docs/x/y.md",
                "docs2/a.md",
                "mydocs/a.md",
                "src/docs/a.md",
                "_posts/2024-01-01-hi.md",
            ],
        ),
    ],
)
def test_globs_match_the_whole_path(pattern: str, expected: list[str]) -> None:
    assert touches(CHANGED, [pattern]) == sorted(expected)


def test_star_and_question_mark_never_cross_a_slash() -> None:
    assert touches(["a/b"], ["a*b"]) == []
    assert touches(["a/b"], ["a?b"]) == []
    assert touches(["a/b"], ["a[/]b"]) == []
    assert touches(["a/b"], ["a**b"]) == ["a/b"]


def test_unclosed_brackets_and_regex_characters_are_literal() -> None:
    assert touches(["docs/[draft.md", "docs/d.md"], ["docs/[draft*"]) == ["docs/[draft.md"]
    assert touches(["a+b(1).md", "aab1.md"], ["a+b(1).*"]) == ["a+b(1).md"]
    assert touches(["a.md", "ab.md"], ["a.md*"]) == ["a.md"]


def test_matching_is_case_sensitive_as_git_paths_are() -> None:
    assert touches(["Docs/a.md"], ["docs"]) == []
    assert touches(["Docs/a.md"], ["Docs/*.md"]) == ["Docs/a.md"]


def test_several_content_paths_and_none() -> None:
    assert touches(CHANGED, ["docs/", "_posts/"]) == [
        "_posts/2024-01-01-hi.md",
        "docs",
        "docs/a.md",
        "docs/x/y.md",
    ]
    assert touches(["b", "a", "a"], []) == ["a", "b"]


def test_reversed_ranges_match_literally_instead_of_failing() -> None:
    assert touches(["[z-a].md", "b.md"], ["[z-a].md"]) == ["[z-a].md"]


@pytest.mark.parametrize(
    "path",
    [
        "docs",
        "docs/",
        "./docs",
        "/docs/**/*.md",
        "_posts",
        "a b/c",
        "[abc]/*.md",
        "ü/ß.md",
        "x" * 512,
    ],
)
def test_valid_content_paths(path: str) -> None:
    assert valid_content_path(path) is None


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("", "empty"),
        ("  ", "empty"),
        ("docs\x00", "control character"),
        ("docs\n", "control character"),
        ("../docs", "'..'"),
        ("docs/../../etc", "'..'"),
        ("C:\\posts", "absolute Windows path"),
        ("c:/posts", "absolute Windows path"),
        ("\\\\server\\share", "absolute Windows path"),
        ("docs\\posts", "separate folders with '/'"),
        ("x" * 513, "at most 512 characters"),
        ("/", "whole repository"),
        ("./", "whole repository"),
        ("[z-a]", "not a valid glob"),
    ],
)
def test_invalid_content_paths_say_why(path: str, reason: str) -> None:
    message = valid_content_path(path)
    assert message is not None and reason in message


def test_a_content_path_that_is_not_a_string() -> None:
    assert valid_content_path(["docs"]) == "a content path must be a string"  # type: ignore[arg-type]


# --- targets and decisions ----------------------------------------------------------------

BLOG = PushTarget(
    site="blog", repository="github.com/acme/blog", branch=None, content_paths=("docs/", "_posts/")
)


def push(**fields: object) -> Push:
    base = {
        "host": "github",
        "event": "push",
        "delivery": "d-1",
        "repositories": frozenset({"github.com/acme/blog", "acme/blog"}),
        "ref": "refs/heads/main",
        "branch": "main",
        "default_branch": "main",
        "after": "a" * 40,
        "deleted": False,
        "changed": frozenset({"docs/a.md", "README.md", "mkdocs.yml", "_posts/x.md", "src/a.py"}),
    }
    return Push(**(base | fields))  # type: ignore[arg-type]


def test_targets_for_matches_by_repository_key() -> None:
    other = PushTarget(
        site="other", repository="github.com/acme/other", branch=None, content_paths=()
    )
    spelled = PushTarget(
        site="spelled", repository="git@GitHub.com:acme/blog.git", branch="dev", content_paths=()
    )
    broken = PushTarget(site="broken", repository="", branch=None, content_paths=())
    assert targets_for(push(), [BLOG, other, spelled, broken]) == [BLOG, spelled]


def test_a_push_touching_content_builds() -> None:
    assert decide(push(), BLOG) == Decision(
        "blog", True, "2 of 5 changed files under docs/, _posts/"
    )


def test_a_push_touching_no_content_does_not_build() -> None:
    decision = decide(push(changed=frozenset({"README.md", "a.py", "b.py"})), BLOG)
    assert decision == Decision(
        "blog", False, "no changed file under docs/, _posts/ (3 files changed)"
    )


def test_one_changed_file_reads_in_the_singular() -> None:
    assert (
        decide(push(changed=frozenset({"docs/a.md"})), BLOG).reason
        == "1 of 1 changed file under docs/, _posts/"
    )
    assert (
        decide(push(changed=frozenset({"a.py"})), BLOG).reason
        == "no changed file under docs/, _posts/ (1 file changed)"
    )


def test_without_content_paths_every_push_builds() -> None:
    target = PushTarget(
        site="all", repository="github.com/acme/blog", branch=None, content_paths=()
    )
    assert decide(push(changed=frozenset()), target) == Decision(
        "all", True, "0 files changed; every path counts"
    )


def test_many_content_paths_are_shortened_in_the_reason() -> None:
    target = PushTarget(
        site="s",
        repository="github.com/acme/blog",
        branch=None,
        content_paths=tuple(f"d{i}" for i in range(8)),
    )
    assert (
        decide(push(changed=frozenset({"x"})), target).reason
        == "no changed file under d0, d1, d2, d3, d4 and 3 more (1 file changed)"
    )


def test_another_branch_does_not_build() -> None:
    decision = decide(push(ref="refs/heads/dev", branch="dev"), BLOG)
    assert decision == Decision("blog", False, "push to refs/heads/dev; the site builds main")


def test_a_named_branch_beats_the_default() -> None:
    target = PushTarget(
        site="s", repository="github.com/acme/blog", branch="refs/heads/dev", content_paths=()
    )
    assert decide(push(ref="refs/heads/dev", branch="dev"), target).build
    assert decide(push(), target).reason == "push to refs/heads/main; the site builds dev"


def test_a_default_branch_the_payload_does_not_name() -> None:
    decision = decide(push(default_branch=None), BLOG)
    assert not decision.build and "does not name" in decision.reason


def test_a_tag_push_does_not_build() -> None:
    decision = decide(push(ref="refs/tags/v1", branch=None), BLOG)
    assert decision == Decision("blog", False, "tag push (refs/tags/v1): only branch pushes build")
    assert decide(push(event="tag_push", ref="refs/tags/v1", branch=None), BLOG).reason.startswith(
        "tag push"
    )


def test_another_ref_kind_does_not_build() -> None:
    decision = decide(push(ref="refs/notes/commits", branch=None), BLOG)
    assert decision == Decision("blog", False, "push to refs/notes/commits, which is not a branch")


def test_a_deleted_branch_does_not_build() -> None:
    decision = decide(push(deleted=True, after=None, changed=frozenset()), BLOG)
    assert decision == Decision("blog", False, "branch main deleted")


def test_an_incomplete_commit_list_builds_and_says_why() -> None:
    decision = decide(
        push(changed=None, incomplete="commit list incomplete (20 of 57 commits listed)"), BLOG
    )
    assert decision == Decision(
        "blog", True, "commit list incomplete (20 of 57 commits listed): building"
    )
    assert decide(push(changed=None), BLOG).reason == "commit list incomplete: building"


def test_ping_and_other_events_do_not_build() -> None:
    assert decide(push(event="ping", ref=None, branch=None), BLOG) == Decision(
        "blog", False, "ping: the webhook reaches Pressroom; nothing to build"
    )
    assert (
        decide(push(event="issues", ref=None, branch=None), BLOG).reason
        == "issues event: only pushes build"
    )


def test_another_repository_does_not_build() -> None:
    target = PushTarget(site="s", repository="github.com/acme/other", branch=None, content_paths=())
    decision = decide(push(), target)
    assert not decision.build and "the site reads github.com/acme/other" in decision.reason


@pytest.mark.parametrize("host", ["github", "gitlab", "gitea"])
def test_end_to_end_from_a_delivery_to_a_decision(host: str) -> None:
    target = PushTarget(
        site="blog",
        repository="https://github.com/acme/blog.git",
        branch=None,
        content_paths=("docs",),
    )
    hit = read_event(host, *push_event(host, secret="s", changed=("docs/a.md", "x.py")))
    miss = read_event(host, *push_event(host, secret="s", changed=("x.py",)))
    forced = read_event(host, *push_event(host, secret="s", changed=None))
    other = read_event(host, *push_event(host, secret="s", branch="dev"))
    assert targets_for(hit, [target]) == [target]
    assert decide(hit, target).reason == "1 of 2 changed files under docs"
    assert not decide(miss, target).build
    assert decide(forced, target).build
    assert not decide(other, target).build


def test_a_github_ping_decides_nothing_to_build() -> None:
    ping = read_event("github", *ping_event(secret="s"))
    assert targets_for(ping, [BLOG]) == [BLOG]
    assert not decide(ping, BLOG).build
