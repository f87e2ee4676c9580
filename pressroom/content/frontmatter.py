"""Front matter: split a post's metadata block (YAML, TOML or JSON) from its Markdown body.

Owns detection of the block, parsing it with the right loader, clear error messages with
file line numbers, the size limit of a block (MAX_FRONT_MATTER_BYTES: a larger block is a
per-post error, never parsed), and `json_safe`, which turns whatever the loaders produce
(dates, sets, bytes, odd keys, lone surrogates) into plain JSON values that encode as UTF-8.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import yaml
from frontmatter.default_handlers import YAMLHandler

__all__ = ["FrontMatterError", "json_safe", "split_front_matter"]

# Opening line, body, closing line (Jekyll also closes YAML with "...").
_YAML_BLOCK = re.compile(r"\A---[ \t]*\n(.*?\n)??(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_TOML_BLOCK = re.compile(r"\A\+\+\+[ \t]*\n(.*?\n)??\+\+\+[ \t]*(?:\n|\Z)", re.DOTALL)
_JSON_FENCED = re.compile(r"\A;;;[ \t]*\n(.*?\n)??;;;[ \t]*(?:\n|\Z)", re.DOTALL)
# Hugo's JSON front matter is a bare object at the top. Requiring a quote or "}" after the
# brace keeps a Liquid tag ("{% include %}", "{{ x }}") at the top of a body from matching.
_JSON_START = re.compile(r"\A\{\s*[\"}]")
_TOML_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)")

_YAML = YAMLHandler()  # yaml.CSafeLoader when libyaml is there: safe and fast

MAX_NODES = 100_000  # YAML aliases can fan a tiny file out into a huge tree
MAX_DEPTH = 200
# Real front matter is a few hundred bytes; a block over this is refused before any loader
# sees it (a YAML parser spends seconds on megabytes, and the values would bloat every
# artifact). Large enough that a 1 MB title is still read, then cut by the post's field caps.
MAX_FRONT_MATTER_BYTES = 1536 * 1024


class FrontMatterError(ValueError):
    """The front matter block is present but cannot be used; the message says why."""


def split_front_matter(text: str) -> tuple[dict[str, Any], str, str]:
    """Return (metadata, body, format); format is "yaml", "toml", "json" or "none".

    Metadata is JSON-safe. Raises FrontMatterError for a malformed or non-mapping block.
    """
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    first_line = text.split("\n", 1)[0].rstrip()

    if first_line == "---":
        block, body = _fenced(_YAML_BLOCK, text, "YAML", "---")
        return _finish(_load_yaml(_sized(block, "YAML")), "YAML"), body, "yaml"
    if first_line == "+++":
        block, body = _fenced(_TOML_BLOCK, text, "TOML", "+++")
        return _finish(_load_toml(_sized(block, "TOML")), "TOML"), body, "toml"
    if first_line == ";;;":
        block, body = _fenced(_JSON_FENCED, text, "JSON", ";;;")
        value, end = _load_json(_sized(block, "JSON"), first_line=2)
        if block[end:].strip():
            raise FrontMatterError("invalid JSON front matter: text after the JSON object")
        return _finish(value, "JSON"), body, "json"
    if _JSON_START.match(text):
        value, end = _load_json(text, first_line=1)
        _sized(text[:end], "JSON")  # the object's end is only known once it is decoded
        return _finish(value, "JSON"), text[end:].removeprefix("\n"), "json"
    return {}, text, "none"


def _sized(block: str, kind: str) -> str:
    """`block`, or FrontMatterError when it is over MAX_FRONT_MATTER_BYTES."""
    # Characters first: only a block near the limit pays for encoding.
    if len(block) * 4 > MAX_FRONT_MATTER_BYTES:
        size = len(block.encode("utf-8", "surrogatepass"))
        if size > MAX_FRONT_MATTER_BYTES:
            raise FrontMatterError(
                f"{kind} front matter is {size} bytes, over the limit of "
                f"{MAX_FRONT_MATTER_BYTES} bytes"
            )
    return block


def _fenced(pattern: re.Pattern[str], text: str, kind: str, fence: str) -> tuple[str, str]:
    match = pattern.match(text)
    if match is None:
        raise FrontMatterError(
            f"unterminated {kind} front matter: line 1 opens it with '{fence}' "
            f"but no closing '{fence}' line follows"
        )
    return match.group(1) or "", text[match.end() :]


def _load_yaml(block: str) -> Any:
    try:
        return _YAML.load(block)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # +2: the block starts on the file's second line, and marks are 0-based.
        where = f"line {mark.line + 2}: " if mark is not None else ""
        what = " ".join(p for p in (exc.context, exc.problem) if p) or "syntax error"
        raise FrontMatterError(f"invalid YAML front matter: {where}{what}") from exc
    except yaml.YAMLError as exc:
        raise FrontMatterError(f"invalid YAML front matter: {exc}") from exc
    except RecursionError as exc:
        raise FrontMatterError("invalid YAML front matter: nested too deeply") from exc


def _load_toml(block: str) -> Any:
    try:
        return tomllib.loads(block)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        pos = _TOML_POS.search(message)
        if pos is None:
            raise FrontMatterError(f"invalid TOML front matter: {message}") from exc
        line = int(pos.group(1)) + 1  # the block starts on the file's second line
        reason = _TOML_POS.sub("", message)
        raise FrontMatterError(f"invalid TOML front matter: line {line}: {reason}") from exc
    except RecursionError as exc:
        raise FrontMatterError("invalid TOML front matter: nested too deeply") from exc


def _load_json(text: str, *, first_line: int) -> tuple[Any, int]:
    """Decode one JSON value at the start of `text`; returns it and where it ended."""
    try:
        # raw_decode, not python-frontmatter's JSONHandler: its split needs the braces alone
        # on their lines and breaks on nested objects; raw_decode finds the object's end.
        start = len(text) - len(text.lstrip())
        return json.JSONDecoder().raw_decode(text, start)
    except json.JSONDecodeError as exc:
        line = exc.lineno + first_line - 1
        raise FrontMatterError(
            f"invalid JSON front matter: line {line} column {exc.colno}: {exc.msg}"
        ) from exc
    except RecursionError as exc:
        raise FrontMatterError("invalid JSON front matter: nested too deeply") from exc


def _finish(value: Any, kind: str) -> dict[str, Any]:
    if value is None:  # an empty block, or only comments
        return {}
    if not isinstance(value, Mapping):
        raise FrontMatterError(
            f"{kind} front matter must be a mapping of keys to values, got {type(value).__name__}"
        )
    try:
        safe = json_safe(value)
    except ValueError as exc:
        raise FrontMatterError(f"invalid {kind} front matter: {exc}") from exc
    assert isinstance(safe, dict)  # noqa: S101 - json_safe maps a Mapping to a dict
    return safe


def json_safe(value: Any, *, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> Any:
    """A copy of `value` made of dict/list/str/int/float/bool/None only.

    Dates and times become ISO 8601 strings, sets and tuples lists (sets sorted, so the
    output is stable), bytes base64 (UTF-8 text when it decodes), Decimal a float, NaN
    and infinities None, mapping keys strings. Lone surrogates (a JSON `"\\ud800"`) become
    U+FFFD, so every string encodes as UTF-8. Anything else becomes its `str()`.
    Raises ValueError for self-referencing values, more than `max_nodes` values in
    total (YAML alias bombs) or nesting deeper than `max_depth`.
    """
    budget = [max_nodes]
    return _safe(value, budget, max_depth, set())


def _safe(value: Any, budget: list[int], depth: int, active: set[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError("too many values (alias expansion?)")
    if isinstance(value, str):
        return _utf8(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, dt.date | dt.time):  # datetime is a date subclass
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(value).decode("ascii")
    if not isinstance(value, Mapping | list | tuple | set | frozenset):
        return _utf8(str(value))

    if depth <= 0:
        raise ValueError("nested too deeply")
    if id(value) in active:
        raise ValueError("a value contains itself (recursive alias)")
    active.add(id(value))
    try:
        if isinstance(value, Mapping):
            return {_key(k): _safe(v, budget, depth - 1, active) for k, v in value.items()}
        items = [_safe(v, budget, depth - 1, active) for v in value]
        if isinstance(value, set | frozenset):
            items.sort(key=lambda v: json.dumps(v, sort_keys=True))
        return items
    finally:
        active.discard(id(value))


def _utf8(text: str) -> str:
    """`text` with any lone surrogate replaced by U+FFFD (it could not be written as UTF-8)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def _key(key: Any) -> str:
    if isinstance(key, str):
        return _utf8(key)
    if key is None:
        return "null"  # what json.dumps would write for a None key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, dt.date | dt.time):
        return key.isoformat()
    return _utf8(str(key))
