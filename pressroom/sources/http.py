"""`.tar.gz`/`.tgz`/`.tar`/`.zip` archives over http(s), streamed to disk under a size limit.

The download goes through the caller's guarded session (pressroom.security.netguard), and redirects
are followed here, one hop at a time, so every hop's URL is checked (scheme) and its host is
checked again by the guard when the hop connects. The archive is then extracted by the same
safe code as a local archive.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiohttp
from yarl import URL

from pressroom.security.netguard import DestinationRefused
from pressroom.security.redact import redact_url
from pressroom.sources.errors import SourceError, SourceUnavailable
from pressroom.sources.tree import CHUNK

__all__ = ["download_archive"]

MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_RETRYABLE = frozenset({408, 425, 429})


def _archive_suffix(path: Path) -> str:
    """The suffix the extractor expects, from the file's magic bytes (URLs often lack one)."""
    with path.open("rb") as fh:
        head = fh.read(512)
    if head.startswith(b"\x1f\x8b"):
        return ".tar.gz"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return ".zip"
    # tarfile opens bzip2/xz/plain tar whatever the name says; ".tar" routes it there.
    if head.startswith((b"BZh", b"\xfd7zXZ\x00")) or head[257:262] == b"ustar":
        return ".tar"
    raise SourceError("downloaded source is not a tar or zip archive")


async def _stream_to(resp: aiohttp.ClientResponse, out: Path, max_bytes: int, shown: str) -> None:
    declared = resp.content_length
    if declared is not None and declared > max_bytes:
        raise SourceError(
            f"{shown}: archive is {declared} bytes, over max_source_bytes={max_bytes}"
        )
    received = 0
    with out.open("wb") as fh:
        async for chunk in resp.content.iter_chunked(CHUNK):
            received += len(chunk)
            if received > max_bytes:
                raise SourceError(f"{shown}: archive is over max_source_bytes={max_bytes}")
            fh.write(chunk)


async def download_archive(
    url: str, staging: Path, http: aiohttp.ClientSession, max_bytes: int, timeout_s: float
) -> Path:
    """Download `url` into `staging`; returns the file, named with its archive suffix."""
    shown = redact_url(url)
    part = staging / "download.part"
    current = URL(url, encoded=False)
    try:
        async with asyncio.timeout(timeout_s):
            for _hop in range(MAX_REDIRECTS + 1):
                if current.scheme not in ("http", "https"):
                    raise SourceError(f"{shown}: redirected to a non-http(s) URL")
                async with http.get(
                    current,
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60),
                ) as resp:
                    if resp.status in _REDIRECTS:
                        location = resp.headers.get("Location")
                        if not location:
                            raise SourceError(f"{shown}: HTTP {resp.status} without Location")
                        current = current.join(URL(location))
                        continue
                    if resp.status == 200:
                        await _stream_to(resp, part, max_bytes, shown)
                        break
                    if resp.status in _RETRYABLE or resp.status >= 500:
                        raise SourceUnavailable(f"{shown}: HTTP {resp.status}")
                    raise SourceError(f"{shown}: HTTP {resp.status}")
            else:
                raise SourceError(f"{shown}: more than {MAX_REDIRECTS} redirects")
    except DestinationRefused as exc:
        part.unlink(missing_ok=True)
        raise SourceError(f"{shown}: {exc}") from None
    except (SourceError, SourceUnavailable):
        part.unlink(missing_ok=True)
        raise
    except TimeoutError:
        part.unlink(missing_ok=True)
        raise SourceUnavailable(f"{shown}: download did not finish in {timeout_s:g}s") from None
    except (aiohttp.InvalidURL, ValueError) as exc:
        part.unlink(missing_ok=True)
        raise SourceError(f"{shown}: invalid URL ({type(exc).__name__})") from None
    except (aiohttp.ClientError, OSError) as exc:
        part.unlink(missing_ok=True)
        # `from None`: aiohttp messages can carry the URL, and with it credentials.
        raise SourceUnavailable(f"{shown}: download failed ({type(exc).__name__})") from None
    archive = part.with_name("source" + _archive_suffix(part))
    with contextlib.suppress(FileNotFoundError):
        archive.unlink()
    part.rename(archive)
    return archive
