"""Webhook signatures and tokens per host: valid, invalid, missing, wrong secret, tampered
body, header-name case; and that every comparison goes through hmac.compare_digest on
equal-length digests."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from pressroom.triggers import signatures
from pressroom.triggers.hosts import HOSTS, SIGNATURE_HEADERS
from pressroom.triggers.signatures import sign, verify
from tests.fakes.push_events import ping_event, push_event

SECRET = "It's a Secret to Everybody"
BODY = b"Hello, World!"


def test_github_matches_the_documented_example() -> None:
    # docs.github.com "Validating webhook deliveries": this secret and payload give this digest.
    expected = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign("github", BODY, SECRET) == {"X-Hub-Signature-256": f"sha256={expected}"}
    assert verify("github", {"X-Hub-Signature-256": f"sha256={expected}"}, BODY, SECRET)


def test_gitea_signs_bare_hex_and_the_github_header() -> None:
    digest = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert sign("gitea", BODY, SECRET) == {
        "X-Gitea-Signature": digest,
        "X-Hub-Signature-256": f"sha256={digest}",
    }


def test_gitlab_sends_the_secret_itself() -> None:
    assert sign("gitlab", BODY, SECRET) == {"X-Gitlab-Token": SECRET}


@pytest.mark.parametrize("host", HOSTS)
def test_a_signed_push_verifies(host: str) -> None:
    headers, body = push_event(host, secret=SECRET)
    assert verify(host, headers, body, SECRET)


@pytest.mark.parametrize("host", HOSTS)
def test_the_wrong_secret_fails(host: str) -> None:
    headers, body = push_event(host, secret=SECRET)
    assert not verify(host, headers, body, SECRET + "!")
    assert not verify(host, headers, body, SECRET[:-1])


@pytest.mark.parametrize("host", ["github", "gitea"])
def test_a_tampered_body_fails(host: str) -> None:
    headers, body = push_event(host, secret=SECRET)
    assert not verify(host, headers, body.replace(b"docs/a.md", b"docs/b.md"), SECRET)
    assert not verify(host, headers, body + b" ", SECRET)


def test_gitlab_token_does_not_sign_the_body() -> None:
    # GitLab proves only that the sender knows the token; the body is not covered.
    headers, body = push_event("gitlab", secret=SECRET)
    assert verify("gitlab", headers, body + b" ", SECRET)


@pytest.mark.parametrize("host", HOSTS)
def test_missing_signature_headers_fail(host: str) -> None:
    headers, body = push_event(host, secret=SECRET)
    names = {n.lower() for n in SIGNATURE_HEADERS[host]}
    stripped = {k: v for k, v in headers.items() if k.lower() not in names}
    assert not verify(host, stripped, body, SECRET)
    assert not verify(host, {}, body, SECRET)


@pytest.mark.parametrize("host", HOSTS)
def test_an_empty_secret_never_verifies(host: str) -> None:
    headers, body = push_event(host, secret="")
    assert not verify(host, headers, body, "")


@pytest.mark.parametrize("host", HOSTS)
def test_header_names_are_case_insensitive(host: str) -> None:
    headers, body = push_event(host, secret=SECRET)
    assert verify(host, {k.lower(): v for k, v in headers.items()}, body, SECRET)
    assert verify(host, {k.upper(): v for k, v in headers.items()}, body, SECRET)


def test_aiohttp_headers_verify() -> None:
    from multidict import CIMultiDict

    headers, body = push_event("github", secret=SECRET)
    assert verify("github", CIMultiDict(headers), body, SECRET)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "sha256=",
        "sha256=zz",
        "sha256=" + "0" * 64,
        "sha256=" + "ab" * 31,  # one byte short
        "sha256=" + "ab" * 33,  # one byte long
        "sha1=" + "0" * 40,
        "sha256=" + "f" * 10_000,
    ],
)
def test_malformed_github_signatures_fail(value: str) -> None:
    assert not verify("github", {"X-Hub-Signature-256": value}, BODY, SECRET)


def test_github_header_needs_its_prefix() -> None:
    digest = sign("gitea", BODY, SECRET)["X-Gitea-Signature"]
    assert not verify("github", {"X-Hub-Signature-256": digest}, BODY, SECRET)
    assert verify("github", {"X-Hub-Signature-256": "sha256=" + digest.upper()}, BODY, SECRET)


@pytest.mark.parametrize(
    "name", ["X-Gitea-Signature", "X-Forgejo-Signature", "X-Hub-Signature-256"]
)
def test_gitea_and_forgejo_accept_any_of_their_headers(name: str) -> None:
    digest = sign("gitea", BODY, SECRET)["X-Gitea-Signature"]
    value = f"sha256={digest}" if name == "X-Hub-Signature-256" else digest
    assert verify("gitea", {name: value}, BODY, SECRET)
    assert not verify("gitea", {name: value}, BODY + b"x", SECRET)


def test_forgejo_delivery_verifies_without_gitea_headers() -> None:
    headers, body = push_event("gitea", secret=SECRET, forgejo=True)
    forgejo_only = {
        k: v for k, v in headers.items() if k not in ("X-Gitea-Signature", "X-Hub-Signature-256")
    }
    assert "X-Forgejo-Signature" in forgejo_only
    assert verify("gitea", forgejo_only, body, SECRET)


def test_one_forged_header_beside_a_valid_one_still_verifies_only_with_the_secret() -> None:
    digest = sign("gitea", BODY, SECRET)["X-Gitea-Signature"]
    assert verify("gitea", {"X-Gitea-Signature": digest, "X-Forgejo-Signature": "00"}, BODY, SECRET)
    assert not verify(
        "gitea", {"X-Gitea-Signature": "0" * 64, "X-Forgejo-Signature": "1" * 64}, BODY, SECRET
    )


def test_gitlab_token_variants_fail() -> None:
    for token in ("", SECRET + " ", SECRET.upper(), SECRET[:-1], "\udcff"):
        assert not verify("gitlab", {"X-Gitlab-Token": token}, BODY, SECRET)


def test_github_ping_verifies() -> None:
    headers, body = ping_event(secret=SECRET)
    assert verify("github", headers, body, SECRET)


def test_unknown_host_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown git host"):
        verify("bitbucket", {}, BODY, SECRET)
    with pytest.raises(ValueError, match="unknown git host"):
        sign("bitbucket", BODY, SECRET)


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("case", ["valid", "wrong", "malformed"])
def test_every_check_compares_equal_length_digests_with_compare_digest(
    host: str, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(signatures.hmac, "compare_digest", recording)
    headers, body = push_event(host, secret=SECRET)
    if case == "wrong":
        headers = push_event(host, secret="another secret")[0]
    elif case == "malformed":
        headers = {name: "sha256=not-hex" for name in SIGNATURE_HEADERS[host]}
    assert verify(host, headers, body, SECRET) is (case == "valid")
    assert calls, "no comparison ran"
    assert all(a == b == 32 for a, b in calls), calls
