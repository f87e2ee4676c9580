"""What exactly gets embedded, and the cache key that identifies an embedding.

The input template lives here and nowhere else: a change to it must bump the embedder's
`version` (part of the cache key), or cached vectors would no longer match their inputs.
Whitespace is normalised first so cosmetic edits to a post do not force a re-embedding.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import PurePosixPath

from pressroom.embeddings.base import DEFAULT_MAX_INPUT_TOKENS, truncate_to_tokens

__all__ = ["cache_key", "input_sha256", "media_input", "section_input"]

_BLANK_LINES = re.compile(r"\n\s*\n\s*")
_SPACES = re.compile(r"[^\S\n]+")
_NAME_SEPARATORS = re.compile(r"[-_.+\s]+")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _paragraphs(text: str) -> str:
    """Runs of spaces become one space, runs of blank lines one blank line; ends trimmed."""
    text = _SPACES.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def section_input(
    post_title: str, heading: str, text: str, max_tokens: int = DEFAULT_MAX_INPUT_TOKENS
) -> str:
    """`"title\\nheading\\n\\ntext"`, whitespace-normalised and cut to `max_tokens` (estimated).

    The heading line is left out for a post's intro section (empty heading), and so is the
    blank line when the section has no text.
    """
    head = "\n".join(part for part in (_one_line(post_title), _one_line(heading)) if part)
    body = _paragraphs(text)
    joined = f"{head}\n\n{body}" if head and body else head or body
    return truncate_to_tokens(joined, max_tokens)


def media_input(
    alt_texts: Sequence[str],
    description: str,
    file_name: str,
    max_tokens: int = DEFAULT_MAX_INPUT_TOKENS,
) -> str:
    """The text an image is embedded by: the vision description (or caption) first, then each
    distinct alt text, then the file name as words (`golden-gate_2019.jpg` -> `golden gate
    2019`). One item per line; empty parts are left out.
    """
    seen: set[str] = set()
    alts: list[str] = []
    for alt in alt_texts:
        alt = _one_line(alt)
        if alt and alt.casefold() not in seen:
            seen.add(alt.casefold())
            alts.append(alt)
    stem = PurePosixPath(file_name.replace("\\", "/")).stem
    name = _one_line(_NAME_SEPARATORS.sub(" ", stem))
    parts = [_paragraphs(description), *alts, name]
    return truncate_to_tokens("\n".join(p for p in parts if p), max_tokens)


def input_sha256(text: str) -> str:
    """Hex sha256 of the UTF-8 input: the content half of the cache key."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_key(provider: str, model: str, dimensions: int, version: str, input_sha: str) -> str:
    """A fixed-length hex key for one (embedder, input) pair.

    Hashed rather than joined with a separator because model names contain `/` and `:`
    (`nomic-ai/x`, `nomic-embed-text:latest`) that would make a joined key ambiguous; the
    result is also safe as a storage object name or a database key.
    """
    identity = json.dumps([provider, model, int(dimensions), version, input_sha])
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()
