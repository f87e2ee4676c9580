"""Reading push webhooks: the fixtures shaped like each host's documented payload, events and
delivery ids, branch/tag/deleted/created/forced pushes, incomplete commit lists, and hostile
bodies, which are PayloadRejected or bounded, never another exception."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pressroom.triggers.hosts import HOSTS
from pressroom.triggers.push import (
    MAX_BODY_BYTES,
    MAX_CHANGED_PATHS,
    PayloadRejected,
    Push,
    read_event,
)
from tests.fakes.push_events import (
    DEFAULT_AFTER,
    fixture,
    ping_event,
    push_event,
    push_payload,
    signed_headers,
)

DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def read(host: str, payload: Any, **headers: str) -> Push:
    body = json.dumps(payload).encode()
    event = "Push Hook" if host == "gitlab" else "push"
    sent = signed_headers(host, body, secret="s", event=event, delivery=DELIVERY) | headers
    return read_event(host, sent, body)


def rejected(host: str, payload: Any, match: str) -> None:
    with pytest.raises(PayloadRejected, match=match):
        read(host, payload)


# --- the fixtures -------------------------------------------------------------------------


def test_github_push_fixture() -> None:
    push = read("github", fixture("github-push"))
    assert push == Push(
        host="github",
        event="push",
        delivery=DELIVERY,
        repositories=frozenset({"github.com/acme/blog", "acme/blog"}),
        ref="refs/heads/main",
        branch="main",
        default_branch="main",
        after="59b20b8d5c6ff8d09518454d4dd8b7a2f8dd3a1a",
        deleted=False,
        changed=frozenset(
            {
                "docs/posts/2024-05-15-release-notes.md",
                "docs/media/release.png",
                "mkdocs.yml",
                "docs/posts/old-draft.md",
                "README.md",
            }
        ),
    )


def test_github_ping_fixture() -> None:
    push = read("github", fixture("github-ping"), **{"X-GitHub-Event": "ping"})
    assert push.event == "ping"
    assert push.repositories == {"github.com/acme/blog", "acme/blog"}
    assert push.changed == frozenset() and push.ref is None and push.branch is None


def test_only_github_pings() -> None:
    assert read_event("github", *ping_event("github", secret="s")).event == "ping"
    with pytest.raises(ValueError, match="sends no ping"):
        ping_event("gitlab", secret="s")


def test_github_ping_of_an_organization_hook_names_no_repository() -> None:
    payload = fixture("github-ping")
    del payload["repository"]
    push = read("github", payload, **{"X-GitHub-Event": "ping"})
    assert push.event == "ping" and push.repositories == frozenset()


def test_gitlab_push_fixture_keeps_subgroups() -> None:
    push = read("gitlab", fixture("gitlab-push"))
    assert push.event == "push"
    assert push.repositories == {"gitlab.example.com/acme/web/blog", "acme/web/blog"}
    assert (push.ref, push.branch, push.default_branch) == ("refs/heads/main", "main", "main")
    assert push.after == "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
    assert push.changed == {
        "content/posts/spring-roadmap.md",
        "content/_index.md",
        ".gitlab-ci.yml",
        "content/posts/retired.md",
    }
    assert push.incomplete is None and not push.deleted


def test_gitea_push_fixture_ssh_url_with_a_port_is_the_same_repository() -> None:
    push = read("gitea", fixture("gitea-push"))
    # The API `url` and the ssh:// URL on port 2222 add no other key.
    assert push.repositories == {"git.example.com/acme/blog", "acme/blog"}
    assert push.changed == {"_posts/2024-05-15-migration-guide.md", "_config.yml"}
    assert push.branch == "main" and push.default_branch == "main"


@pytest.mark.parametrize("host", HOSTS)
def test_the_helper_round_trips(host: str) -> None:
    headers, body = push_event(
        host,
        secret="s",
        repository="https://Git.Example.com/Acme/Docs.git",
        branch="release",
        changed=("docs/a.md", "README.md"),
        delivery="d-1",
        after="a" * 40,
    )
    push = read_event(host, headers, body)
    assert push.delivery == "d-1" and push.event == "push"
    assert "git.example.com/acme/docs" in push.repositories
    assert push.branch == "release" and push.after == "a" * 40
    assert push.changed == {"docs/a.md", "README.md"}


def test_the_helper_puts_a_local_repository_in_verbatim() -> None:
    headers, body = push_event("github", secret="s", repository="/srv/repos/blog.git")
    assert "file/srv/repos/blog" in read_event("github", headers, body).repositories


# --- events and deliveries ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "event"),
    [
        ("Push Hook", "push"),
        ("Tag Push Hook", "tag_push"),
        ("Merge Request Hook", "merge_request"),
        ("push hook", "push"),
    ],
)
def test_gitlab_event_names(header: str, event: str) -> None:
    assert read("gitlab", fixture("gitlab-push"), **{"X-Gitlab-Event": header}).event == event


def test_gitlab_system_hook_names_its_event_in_the_body() -> None:
    push = read("gitlab", fixture("gitlab-push"), **{"X-Gitlab-Event": "System Hook"})
    assert push.event == "push" and push.changed


def test_other_events_are_read_without_their_commits() -> None:
    payload = fixture("github-push") | {"commits": "not a list", "ref": 7}
    push = read("github", payload, **{"X-GitHub-Event": "Issues"})
    assert push.event == "issues" and push.changed == frozenset() and push.ref is None


def test_forgejo_event_and_delivery_headers() -> None:
    body = json.dumps(fixture("gitea-push")).encode()
    headers = {"X-Forgejo-Event": "push", "X-Forgejo-Delivery": "f-1"}
    push = read_event("gitea", headers, body)
    assert push.event == "push" and push.delivery == "f-1"


def test_gitlab_prefers_the_idempotency_key_which_a_resend_keeps() -> None:
    body = json.dumps(fixture("gitlab-push")).encode()
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "e-1"}
    assert read_event("gitlab", headers, body).delivery == "e-1"
    headers["Idempotency-Key"] = "k-1"
    assert read_event("gitlab", headers, body).delivery == "k-1"


def test_redelivery_keeps_the_delivery_id() -> None:
    first = push_event("gitlab", secret="s", delivery="same")
    again = push_event("gitlab", secret="s", delivery="same")
    assert first[0]["X-Gitlab-Event-UUID"] != again[0]["X-Gitlab-Event-UUID"]
    assert read_event("gitlab", *first).delivery == read_event("gitlab", *again).delivery


def test_a_missing_delivery_is_none() -> None:
    body = json.dumps(fixture("github-push")).encode()
    assert read_event("github", {"X-GitHub-Event": "push"}, body).delivery is None
    assert (
        read_event("github", {"X-GitHub-Event": "push", "X-GitHub-Delivery": " "}, body).delivery
        is None
    )


@pytest.mark.parametrize("bad", ["a b", "../../x", "x" * 129, "id\u00e9", "-leading"])
def test_a_delivery_id_that_cannot_be_a_job_id_is_rejected(bad: str) -> None:
    with pytest.raises(PayloadRejected, match="X-GitHub-Delivery header is not a delivery id"):
        read("github", fixture("github-push"), **{"X-GitHub-Delivery": bad})


@pytest.mark.parametrize("host", HOSTS)
def test_a_missing_event_header_is_rejected(host: str) -> None:
    body = json.dumps(fixture(f"{host}-push")).encode()
    with pytest.raises(PayloadRejected, match=r"missing X-(GitHub|Gitlab|Gitea)-Event header"):
        read_event(host, {"Content-Type": "application/json"}, body)


@pytest.mark.parametrize("bad", ["", "push\x00", "x" * 65, "pu sh", "pûsh"])
def test_an_event_header_that_is_no_event_name_is_rejected(bad: str) -> None:
    with pytest.raises(PayloadRejected, match="not an event name"):
        read("github", fixture("github-push"), **{"X-GitHub-Event": bad})


# --- branches, tags, deletions ------------------------------------------------------------


@pytest.mark.parametrize("host", HOSTS)
def test_a_tag_push_has_no_branch(host: str) -> None:
    push = read_event(host, *push_event(host, secret="s", ref="refs/tags/v1.0"))
    assert push.ref == "refs/tags/v1.0" and push.branch is None
    assert push.event == ("tag_push" if host == "gitlab" else "push")


def test_a_branch_name_with_slashes() -> None:
    push = read_event("github", *push_event("github", secret="s", branch="feature/new-theme"))
    assert push.branch == "feature/new-theme"


@pytest.mark.parametrize("host", HOSTS)
def test_a_deleted_branch(host: str) -> None:
    push = read_event(host, *push_event(host, secret="s", deleted=True))
    assert push.deleted and push.after is None and push.branch == "main"
    assert push.changed == frozenset()


def test_github_deleted_flag_alone_counts() -> None:
    payload = push_payload("github") | {"deleted": True}
    assert read("github", payload).deleted


@pytest.mark.parametrize("host", HOSTS)
def test_a_new_branch_has_unknown_changes(host: str) -> None:
    push = read_event(host, *push_event(host, secret="s", created=True, branch="dev"))
    assert push.changed is None and push.incomplete == "new branch"


def test_a_forced_push_has_unknown_changes() -> None:
    push = read_event("github", *push_event("github", secret="s", forced=True))
    assert push.changed is None and push.incomplete == "forced push"


def test_sha256_repositories_and_upper_case_ids() -> None:
    payload = push_payload("github", after="AB" * 32, before="0" * 64)
    push = read("github", payload)
    assert push.after == "ab" * 32 and push.incomplete == "new branch"


# --- incomplete commit lists --------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "field"), [("gitlab", "total_commits_count"), ("gitea", "total_commits")]
)
def test_a_total_above_the_listed_commits_is_incomplete(host: str, field: str) -> None:
    payload = push_payload(host) | {field: 57}
    push = read(host, payload)
    assert push.changed is None
    assert push.incomplete == "commit list incomplete (1 of 57 commits listed)"


@pytest.mark.parametrize("host", ["gitlab", "gitea"])
def test_the_helper_makes_incomplete_lists(host: str) -> None:
    push = read_event(host, *push_event(host, secret="s", changed=None))
    assert push.changed is None and "commit list incomplete" in (push.incomplete or "")


def test_github_commit_list_at_its_cap_is_incomplete() -> None:
    payload = push_payload("github")
    payload["commits"] = payload["commits"] * 2048
    push = read("github", payload)
    assert push.changed is None and "2048" in (push.incomplete or "")
    payload["commits"] = payload["commits"][:2047]
    assert read("github", payload).changed == {"docs/a.md"}


def test_github_commit_at_its_file_cap_is_incomplete() -> None:
    payload = push_payload("github", changed=[f"docs/{i}.md" for i in range(3000)])
    push = read("github", payload)
    assert push.changed is None and "3,000 files" in (push.incomplete or "")


def test_a_commit_without_file_lists_is_incomplete() -> None:
    # GitHub Actions' copy of the payload has no added/removed/modified.
    payload = push_payload("github")
    for name in ("added", "removed", "modified"):
        del payload["commits"][0][name]
    push = read("github", payload)
    assert push.changed is None and push.incomplete == "a commit has no file lists"


def test_no_commit_list_although_the_ref_moved_is_incomplete() -> None:
    payload = push_payload("gitlab") | {"commits": [], "total_commits_count": 0}
    push = read("gitlab", payload)
    assert push.changed is None and push.incomplete == "no commit list"


def test_a_push_that_moves_nothing_changes_nothing() -> None:
    payload = push_payload("github", before=DEFAULT_AFTER) | {"commits": []}
    assert read("github", payload).changed == frozenset()


def test_paths_from_every_commit_and_list_are_unioned() -> None:
    payload = push_payload("gitea")
    first = payload["commits"][0]
    payload["commits"] = [
        first | {"added": ["a.md"], "modified": ["b.md"], "removed": []},
        first | {"added": [], "modified": ["b.md"], "removed": ["c.md"]},
    ]
    payload["total_commits"] = 2
    assert read("gitea", payload).changed == {"a.md", "b.md", "c.md"}


# --- hostile payloads ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"", "not JSON"),
        (b"not json", "not JSON"),
        (b"\xff\xfe{", "not JSON"),
        (b"[1, 2]", "must be a JSON object, not an array"),
        (b'"text"', "not a string"),
        (b"null", "not null"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (b'{"ref": ' + b"9" * 5000 + b"}", "not JSON"),
        (b"payload=%7B%7D", "form-encoded"),
    ],
)
def test_unreadable_bodies(body: bytes, match: str) -> None:
    with pytest.raises(PayloadRejected, match=match):
        read_event("github", {"X-GitHub-Event": "push"}, body)


def test_a_body_over_the_limit_is_refused_before_parsing() -> None:
    body = b" " * (MAX_BODY_BYTES + 1)
    with pytest.raises(PayloadRejected, match="over the 25 MB limit"):
        read_event("github", {"X-GitHub-Event": "push"}, body)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"commits": "docs/a.md"}, "commits must be an array, not a string"),
        ({"commits": [3]}, r"commits\[0\] must be an object, not a number"),
        ({"ref": 7}, "ref must be a string, not a number"),
        ({"ref": "refs/heads/" + "x" * 2000}, "ref is longer than 1024 characters"),
        ({"created": "yes"}, "created must be a boolean, not a string"),
        ({"after": "not-a-sha"}, "after is not a commit id"),
        ({"after": "ab" * 100}, "after is longer than 64 characters"),
        ({"repository": ["x"]}, "repository must be an object, not an array"),
        ({"repository": {"html_url": 5}}, "repository.html_url must be a string, not a number"),
        ({"repository": None}, "names no repository"),
        ({"ref": None}, "has no ref"),
    ],
)
def test_wrong_types_are_rejected_naming_the_field(change: dict[str, Any], match: str) -> None:
    rejected("github", push_payload("github") | change, match)


def test_a_file_list_that_is_not_a_list_is_rejected() -> None:
    payload = push_payload("gitlab")
    payload["commits"][0]["added"] = "docs/a.md"
    rejected("gitlab", payload, r"commits\[0\]\.added must be an array, not a string")


@pytest.mark.parametrize("value", ["5", True, 1.5])
def test_a_total_that_is_not_a_whole_number_is_rejected(value: object) -> None:
    rejected(
        "gitlab", push_payload("gitlab") | {"total_commits_count": value}, "total_commits_count"
    )


def test_bad_paths_are_dropped() -> None:
    payload = push_payload(
        "github", changed=["docs/ok.md", "docs/\x00evil.md", "\ud800.md", "", "d/" + "x" * 5000]
    )
    assert read("github", payload).changed == {"docs/ok.md"}


def test_a_path_that_is_not_a_string_makes_the_list_incomplete() -> None:
    payload = push_payload("github")
    payload["commits"][0]["modified"] = ["docs/a.md", 7, None, {"path": "docs/b.md"}]
    push = read("github", payload)
    assert push.changed is None and "not a string" in (push.incomplete or "")


def test_a_hundred_thousand_paths_are_bounded() -> None:
    payload = push_payload("gitea", changed=[f"docs/{i}.md" for i in range(100_000)])
    push = read("gitea", payload)
    assert push.changed is None and f"{MAX_CHANGED_PATHS:,}" in (push.incomplete or "")


def test_exactly_the_cap_is_still_complete() -> None:
    payload = push_payload("gitea", changed=[f"docs/{i}.md" for i in range(MAX_CHANGED_PATHS)])
    push = read("gitea", payload)
    assert push.changed is not None and len(push.changed) == MAX_CHANGED_PATHS


def test_unreadable_repository_names_are_skipped_when_others_identify_it() -> None:
    payload = push_payload("github")
    payload["repository"]["git_url"] = "git://\x01/"
    assert read("github", payload).repositories == {"github.com/acme/blog", "acme/blog"}


def test_a_ping_is_ok_with_nothing_but_its_event() -> None:
    headers, _ = ping_event(secret="s")
    push = read_event("github", headers, b"{}")
    assert push.event == "ping" and push.repositories == frozenset()


# --- anything at all ----------------------------------------------------------------------

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["refs/heads/main", "0" * 40, "a" * 40, "docs/a.md", "\x00", "\ud800"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
_FIELDS = st.sampled_from(
    [
        "ref",
        "before",
        "after",
        "created",
        "deleted",
        "forced",
        "commits",
        "repository",
        "project",
        "total_commits_count",
        "total_commits",
        "object_kind",
    ]
)


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    host=st.sampled_from(HOSTS),
    replacements=st.dictionaries(_FIELDS, _JSON, max_size=4),
    commit_field=st.sampled_from(["added", "modified", "removed", "id"]),
    commit_value=_JSON,
    event=st.sampled_from(["push", "Push Hook", "System Hook", "ping", "tag_push"]),
)
def test_any_push_shaped_payload_reads_or_is_rejected(
    host: str, replacements: dict[str, Any], commit_field: str, commit_value: Any, event: str
) -> None:
    payload = push_payload(host)
    payload["commits"][0][commit_field] = commit_value
    payload |= replacements
    body = json.dumps(payload).encode()
    headers = {"X-GitHub-Event": event, "X-Gitlab-Event": event, "X-Gitea-Event": event}
    try:
        push = read_event(host, headers, body)
    except PayloadRejected as exc:
        assert str(exc)
        return
    assert push.changed is None or all(isinstance(p, str) and "\x00" not in p for p in push.changed)
    assert (push.changed is None) == (push.incomplete is not None)


@settings(max_examples=200, deadline=None, database=None)
@given(body=st.binary(max_size=200) | _JSON.map(lambda v: json.dumps(v).encode()))
def test_any_body_reads_or_is_rejected(body: bytes) -> None:
    for host in HOSTS:
        try:
            read_event(
                host,
                {"X-GitHub-Event": "push", "X-Gitlab-Event": "Push Hook", "X-Gitea-Event": "push"},
                body,
            )
        except PayloadRejected:
            pass
