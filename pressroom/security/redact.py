"""Redacting URLs for display: what errors, logs, the workflow input and the UI may show.

`redact_url` drops userinfo (`https://user:token@host`) and masks query values whose names
look secret (`?token=`, `X-Amz-Signature=`). Sealing (pressroom.security.sealing) relies on
it to tell whether a URL carries a credential at all.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["redact_url"]

_SENSITIVE_QUERY = re.compile(
    r"token|key|secret|signature|sig|password|passwd|credential|auth", re.IGNORECASE
)


def redact_url(url: str) -> str:
    """`url` safe to echo: userinfo removed and secret-looking query values masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        # Unparseable (e.g. a broken IPv6 literal): still drop anything shaped like userinfo.
        return re.sub(r"//[^/@]*@", "//", url)
    if not parts.scheme or not parts.netloc:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(_SENSITIVE_QUERY.search(k) for k, _ in pairs):
        query = urlencode(
            [(k, "REDACTED" if _SENSITIVE_QUERY.search(k) else v) for k, v in pairs], safe="/:"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
