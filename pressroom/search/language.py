"""Text-search languages: which PostgreSQL configuration stems a post (its `lang` front
matter, ISO 639-1 code or configuration name) and, so, which one parses a query against it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["post_ts_config"]

# PostgreSQL's built-in text-search configurations (pg_ts_config of PostgreSQL 16).
TS_CONFIGS = frozenset(
    """simple arabic armenian basque catalan danish dutch english finnish french german greek
    hindi hungarian indonesian irish italian lithuanian nepali norwegian portuguese romanian
    russian serbian spanish swedish tamil turkish yiddish""".split()
)
# ISO 639-1 codes (what `lang` front matter usually holds) -> configuration.
_ISO_639_1 = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "da": "danish",
    "nl": "dutch", "en": "english", "fi": "finnish", "fr": "french", "de": "german",
    "el": "greek", "hi": "hindi", "hu": "hungarian", "id": "indonesian", "ga": "irish",
    "it": "italian", "lt": "lithuanian", "ne": "nepali", "no": "norwegian", "nb": "norwegian",
    "nn": "norwegian", "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian",
    "es": "spanish", "sv": "swedish", "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}  # fmt: skip


def ts_config_for(lang: object, default: str = "english") -> str:
    """The text-search configuration for a `lang` value: `fr`, `fr-FR`, `fr_CA`, `French` and
    `french` all give `french`; anything unknown (or empty) gives `default`."""
    return _resolve_lang(lang) or _resolve_lang(default) or "english"


def _resolve_lang(lang: object) -> str | None:
    if not isinstance(lang, str) or not lang.strip():
        return None
    name = lang.strip().lower()
    if name in TS_CONFIGS:
        return name
    return _ISO_639_1.get(re.split(r"[-_]", name, maxsplit=1)[0])


def post_ts_config(front_matter: Mapping[str, Any], default: str = "english") -> str:
    """A post's configuration from its `lang` (or `language`) front matter, else `default`."""
    return ts_config_for(front_matter.get("lang") or front_matter.get("language"), default)
