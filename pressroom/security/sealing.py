"""Keeping credentials that arrive inside URLs out of Temporal's workflow history.

A `repoUrl` like `https://user:token@host/repo.git` or a `callbackUrl` with `?token=...` is a
secret in a URL. The workflow input lands verbatim in history (the UI, `temporal workflow
show`, exported histories), so the API never puts such a URL there: the job input carries
the redacted URL (for display, site names, the UI summary) plus the original sealed with
Fernet (AES-128-CBC + HMAC-SHA256) under a key that only the API and the workers hold.
Workers unseal right where the URL is used and never log or return it.

The key is `PRESSROOM_SECRETS_KEY` (any string; a 32-byte Fernet key is derived from it), or,
when unset, a random key kept in `{PRESSROOM_STATE_DIR}/secrets.key` (0600), which suits one
machine (the embedded stack). URLs without credentials are not sealed at all.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from pressroom.security.redact import redact_url

__all__ = ["SealError", "open_secret", "reveal", "seal_secret", "split"]

KEY_FILE = "secrets.key"
PREFIX = "fernet:"


class SealError(Exception):
    """A sealed value could not be opened (another key, or tampered with)."""


def has_credentials(url: str) -> bool:
    """True when `url` carries userinfo or a token-like query value."""
    return redact_url(url) != url


def _derive(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest())


def _key_file(state_dir: Path) -> bytes:
    path = state_dir / KEY_FILE
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        # Write aside, then link into place: two processes racing to create the key end up
        # sharing whichever landed first, and nobody ever reads a half-written file.
        fd, tmp = tempfile.mkstemp(dir=state_dir, prefix=".secrets-")
        try:
            os.write(fd, Fernet.generate_key())
            os.fchmod(fd, 0o600)
            os.close(fd)
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    return path.read_bytes().strip()


def load_key(settings: Any) -> bytes:
    """The sealing key for these settings (a `pressroom.config.Settings`)."""
    configured = settings.secrets_key
    if configured is not None and configured.get_secret_value():
        return _derive(configured.get_secret_value().encode())
    return _derive(_key_file(Path(settings.state_dir)))


def seal(key: bytes, value: str) -> str:
    return PREFIX + Fernet(key).encrypt(value.encode()).decode("ascii")


def unseal(key: bytes, token: str) -> str:
    if not token.startswith(PREFIX):
        raise SealError("not a sealed value")
    try:
        return Fernet(key).decrypt(token[len(PREFIX) :].encode("ascii")).decode()
    except (InvalidToken, ValueError):
        raise SealError(
            "cannot unseal a sealed credential: the API and this worker use different "
            "PRESSROOM_SECRETS_KEY values (or state dirs)"
        ) from None


def split(url: str | None, key_source: Any) -> tuple[str | None, str | None]:
    """(URL for the workflow input, sealed original or None). `key_source` is the Settings,
    read only when there is something to seal."""
    if url is None or not has_credentials(url):
        return url, None
    return redact_url(url), seal(load_key(key_source), url)


def reveal(url: str, sealed: str | None, key_source: Any) -> str:
    """The URL to use: the unsealed original when there is one, else `url` as given."""
    if not sealed:
        return url
    return unseal(load_key(key_source), sealed)


def seal_secret(value: str, key_source: Any) -> str:
    """A secret that is not a URL (a site's webhook secret), sealed under the same key."""
    return seal(load_key(key_source), value)


def open_secret(sealed: str, key_source: Any) -> str:
    """The secret `seal_secret` sealed; SealError under another key."""
    return unseal(load_key(key_source), sealed)
