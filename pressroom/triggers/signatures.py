"""Is a webhook delivery from the git host that knows the site's secret?

- GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>`.
- GitLab: `X-Gitlab-Token: <secret>`, the secret itself (GitLab signs nothing).
- Gitea / Forgejo: `X-Gitea-Signature` / `X-Forgejo-Signature: <hex HMAC-SHA256>` without a
  prefix; both also send GitHub's `X-Hub-Signature-256`. Any one of them that verifies is
  enough (none can be made without the secret).

Comparisons are constant time: `hmac.compare_digest` always runs on two 32-byte digests, so a
wrong length, bad hex or a missing prefix costs the same as a wrong signature (a malformed
value is compared as zero bytes, then refused). GitLab's token is compared through the
SHA-256 of both sides for the same reason. A missing header or an empty secret is False: an
empty secret would let anyone sign.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from pressroom.triggers.hosts import SIGNATURE_HEADERS, check_host, lower_headers

__all__ = ["sign", "verify"]

_PREFIX = "sha256="
_DIGEST_BYTES = 32
_ZERO = bytes(_DIGEST_BYTES)
# A hex SHA-256 is 64 characters; anything much longer is not worth decoding.
_MAX_SIGNATURE = 200


def _mac(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()


def _hex_digest(value: str, *, prefix: bool) -> bytes | None:
    """The 32 bytes a signature header names, or None when it names none."""
    text = value.strip()
    if len(text) > _MAX_SIGNATURE:
        return None
    if text[: len(_PREFIX)].lower() == _PREFIX:
        text = text[len(_PREFIX) :]
    elif prefix:
        return None
    try:
        digest = bytes.fromhex(text)
    except ValueError:
        return None
    return digest if len(digest) == _DIGEST_BYTES else None


def _matches(expected: bytes, given: bytes | None) -> bool:
    # compare_digest runs even when `given` is unusable, so every refusal takes one path.
    same = hmac.compare_digest(expected, given if given is not None else _ZERO)
    return same and given is not None


def verify(host: str, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    """True when `headers` prove that `body` was sent by `host` holding `secret`."""
    check_host(host)
    lowered = lower_headers(headers)
    if not secret:
        return False
    if host == "gitlab":
        token = lowered.get("x-gitlab-token")
        if token is None:
            return False
        given = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        return _matches(hashlib.sha256(secret.encode("utf-8")).digest(), given)
    expected = _mac(secret, body)
    verdicts = []
    for name in SIGNATURE_HEADERS[host]:
        value = lowered.get(name.lower())
        if value is not None:
            # GitHub's header always carries "sha256="; Gitea's own headers carry none.
            needs_prefix = name.lower() == "x-hub-signature-256"
            verdicts.append(_matches(expected, _hex_digest(value, prefix=needs_prefix)))
    return any(verdicts)


def sign(host: str, body: bytes, secret: str) -> dict[str, str]:
    """The signature headers `host` sends with `body` under `secret` (tests, docs' examples)."""
    check_host(host)
    if host == "gitlab":
        return {"X-Gitlab-Token": secret}
    digest = _mac(secret, body).hex()
    if host == "github":
        return {"X-Hub-Signature-256": _PREFIX + digest}
    return {"X-Gitea-Signature": digest, "X-Hub-Signature-256": _PREFIX + digest}
