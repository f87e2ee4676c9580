"""What the conventions read of a source tree besides the posts: its file names, and its
config files (TOML, YAML, JSON, or a JavaScript config read for a few literal values), each
bounded in size and in the values it expands to, a broken one noted rather than failing the
job.
"""

from __future__ import annotations

import json
import posixpath
import re
import tomllib
from collections.abc import Callable, Iterable
from typing import Any

import yaml

from pressroom.content.frontmatter import json_safe

__all__ = ["MAX_CONFIG_BYTES", "SiteTree", "js_block", "js_code", "js_flag", "js_value"]

# Real site configs are a few KB; a larger "config" is not read (hostile or not a config).
MAX_CONFIG_BYTES = 512 * 1024


class SiteTree:
    """The tree's paths, and its small files read on demand (`read` returns None when the
    file is missing or too large); `notes` collects why a config could not be used."""

    def __init__(
        self,
        names: Iterable[str],
        read: Callable[[str], bytes],
        size: Callable[[str], int] | None = None,
    ) -> None:
        self.names = sorted(names)
        self.name_set = frozenset(self.names)
        self._read, self._size = read, size
        self.notes: list[str] = []

    def has(self, path: str) -> bool:
        return path in self.name_set

    def read(self, path: str) -> bytes | None:
        if path not in self.name_set:
            return None
        if self._size is not None and self._size(path) > MAX_CONFIG_BYTES:
            self.notes.append(f"{path}: over {MAX_CONFIG_BYTES} bytes, not read")
            return None
        data = self._read(path)
        if len(data) > MAX_CONFIG_BYTES:
            self.notes.append(f"{path}: over {MAX_CONFIG_BYTES} bytes, not read")
            return None
        return data

    def text(self, path: str) -> str | None:
        data = self.read(path)
        return None if data is None else data.decode("utf-8", "replace")

    def load(self, path: str) -> dict[str, Any]:
        """A TOML, YAML or JSON file as a mapping; {} (and a note) when it cannot be read.
        YAML's custom tags (`!!python/name:` in mkdocs.yml) are read as plain values."""
        text = self.text(path)
        if text is None:
            return {}
        suffix = posixpath.splitext(path)[1].lower()
        try:
            if suffix == ".toml":
                loaded: Any = tomllib.loads(text)
            elif suffix == ".json":
                loaded = json.loads(text)
            else:
                loaded = yaml.load(text, Loader=_TolerantLoader)  # noqa: S506 (safe subclass)
        except Exception as exc:  # any broken config is a note, never a failed job
            self.notes.append(f"{path}: not readable ({type(exc).__name__}: {_first_line(exc)})")
            return {}
        if not isinstance(loaded, dict):
            self.notes.append(f"{path}: not a mapping")
            return {}
        try:
            # Plain values, bounded: YAML aliases can fan a small file out into a huge tree.
            return json_safe(loaded)
        except ValueError as exc:
            self.notes.append(f"{path}: not usable ({exc})")
            return {}

    def files_under(self, folder: str) -> list[str]:
        prefix = folder.rstrip("/") + "/" if folder else ""
        return [n for n in self.names if n.startswith(prefix)]


def _first_line(exc: Exception) -> str:
    return str(exc).strip().split("\n", 1)[0][:200]


class _TolerantLoader(yaml.SafeLoader):
    """SafeLoader that reads unknown tags (`!ENV`, `!!python/name:...`) as their plain value."""


def _unknown_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_TolerantLoader.add_multi_constructor("!", _unknown_tag)
_TolerantLoader.add_multi_constructor("tag:yaml.org,2002:python/", _unknown_tag)


_JS_STRING = r"""(?:'([^'\n]*)'|"([^"\n]*)"|`([^`\n$]*)`)"""


def js_value(text: str, key: str) -> str | None:
    """The string literal given to `key` in a JavaScript config (`url: 'https://x.org'`),
    the first one written; None when the value is not a literal."""
    match = re.search(rf"(?:^|[\s,{{]){re.escape(key)}\s*:\s*{_JS_STRING}", text)
    if match is None:
        return None
    return next(g for g in match.groups() if g is not None)


def js_flag(text: str, key: str) -> bool | None:
    """The boolean literal given to `key` (`trailingSlash: false`), None when not one."""
    match = re.search(rf"(?:^|[\s,{{]){re.escape(key)}\s*:\s*(true|false)\b", text)
    return None if match is None else match.group(1) == "true"


def js_block(text: str, key: str) -> str | None:
    """The text of the object literal given to `key` (`docs: { ... }`), braces balanced
    (strings are not parsed: a brace inside a string may end it early); None when `key` has
    no object literal (`docs: false`)."""
    match = re.search(rf"(?:^|[\s,{{(]){re.escape(key)}\s*:\s*\(?\s*{{", text)
    if match is None:
        return None
    depth, start = 0, match.end() - 1
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : index]
    return text[start + 1 :]


def js_code(text: str) -> str:
    """A JavaScript config without its comments (`//` and `/* */` outside string literals),
    so a commented-out `// url: '...'` is not read as a value."""
    out: list[str] = []
    index, quote, size = 0, "", len(text)
    while index < size:
        char = text[index]
        if quote:
            out.append(char)
            if char == "\\" and index + 1 < size:
                out.append(text[index + 1])
                index += 1
            elif char == quote:
                quote = ""
        elif char in "'\"`":
            quote = char
            out.append(char)
        elif text.startswith("//", index):
            end = text.find("\n", index)
            index = size if end < 0 else end
            continue
        elif text.startswith("/*", index):
            end = text.find("*/", index + 2)
            index = size if end < 0 else end + 2
            continue
        else:
            out.append(char)
        index += 1
    return "".join(out)
