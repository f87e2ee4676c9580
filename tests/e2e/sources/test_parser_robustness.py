"""Parser robustness: whatever bytes a repository holds, parsing never crashes; a post that
cannot be read becomes a per-post error with a reason, and the job completes.

Property-based (hypothesis) over raw bytes, generated YAML/TOML/JSON front matter (valid ones
must round-trip exactly, mutated ones must fail cleanly) and nested Markdown; then the parse
step over hostile files, and one end-to-end job over a corpus holding all of them, a 50 MB
post included. (tests/test_posts.py fuzzes Markdown and template tokens as text; these add
bytes, structured front matter and nesting.)
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.client import Client

from pressroom.config import Settings
from pressroom.content.frontmatter import FrontMatterError, json_safe, split_front_matter
from pressroom.content.posts import PostParseError, parse_post
from pressroom.models import Post, PostError
from pressroom.steps.parse import parse_one
from tests.conftest import EXAMPLE_BLOG
from tests.jobs import job_request, run_job

FUZZ = settings(max_examples=200, deadline=None, database=None)


def parses_or_fails_cleanly(data: bytes, path: str = "fuzz/post.md") -> Post | None:
    """parse_post's contract: a Post, or a PostParseError with a reason; nothing else."""
    try:
        return parse_post(path, data)
    except PostParseError as exc:
        assert str(exc).strip(), "a per-post error must say why"
        assert len(str(exc)) < 2000, "reasons are short enough to show in a job result"
        return None


# --- raw bytes ---------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_never_crash_the_parser(data: bytes) -> None:
    parses_or_fails_cleanly(data)


@FUZZ
@given(st.sampled_from([b"---\n", b"+++\n", b";;;\n", b"{", b""]), st.binary(max_size=2048))
def test_random_bytes_inside_a_front_matter_fence_never_crash(fence: bytes, data: bytes) -> None:
    parses_or_fails_cleanly(fence + data + b"\n" + fence)


@FUZZ
@given(st.text(max_size=2000))
def test_split_front_matter_raises_only_front_matter_errors(text: str) -> None:
    try:
        meta, body, fmt = split_front_matter(text)
    except FrontMatterError as exc:
        assert str(exc)
        return
    assert isinstance(meta, dict) and isinstance(body, str)
    assert fmt in ("yaml", "toml", "json", "none")
    json.dumps(meta, allow_nan=False)  # JSON-safe whatever came in


# --- generated front matter: valid ones round-trip, mutated ones fail cleanly --------------

# YAML reads NEL and the Unicode line/paragraph separators as line breaks (PyYAML's emitter
# writes them raw, so they would fold to spaces): a YAML limit, kept out of the round trip.
_YAML_BREAKS = "\x85\u2028\u2029"
_KEYS = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters=_YAML_BREAKS),
    min_size=1,
    max_size=12,
)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters=_YAML_BREAKS),
        max_size=40,
    )
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=20,
)
_FRONT = st.dictionaries(_KEYS, _VALUES, max_size=8)


def _toml_string(value: str) -> str:
    """A TOML basic string: quotes and backslashes escaped, control characters as \\uXXXX."""
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml(meta: dict[str, Any]) -> str:
    lines = []
    for key, value in meta.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int):
            text = str(value)
        elif isinstance(value, str):
            text = _toml_string(value)
        else:
            text = "[" + ", ".join(_toml_string(v) for v in value) + "]"
        lines.append(f"{_toml_string(key)} = {text}")
    return "\n".join(lines)


_TOML_VALUES = (
    st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.text(max_size=40)
    | st.lists(st.text(max_size=10), max_size=4)
)
_TOML_FRONT = st.dictionaries(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12),
    _TOML_VALUES,
    max_size=8,
)
_BODIES = st.lists(
    st.sampled_from(["# Head\n", "text ", "- item\n", "> quote\n", "```\ncode\n```\n", "\n\n"]),
    max_size=12,
).map("".join)


@FUZZ
@given(_FRONT, _BODIES)
def test_valid_yaml_front_matter_round_trips(meta: dict[str, Any], body: str) -> None:
    block = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False)
    data = f"---\n{block}---\n{body}".encode()
    post = parse_post("fm/yaml.md", data)
    assert post.front_matter == json_safe(meta)


@FUZZ
@given(_TOML_FRONT, _BODIES)
def test_valid_toml_front_matter_round_trips(meta: dict[str, Any], body: str) -> None:
    data = f"+++\n{_toml(meta)}\n+++\n{body}".encode()
    post = parse_post("fm/toml.md", data)
    assert post.front_matter == json_safe(meta)


@FUZZ
@given(_FRONT, _BODIES)
def test_valid_json_front_matter_round_trips(meta: dict[str, Any], body: str) -> None:
    data = (json.dumps(meta, ensure_ascii=False) + "\n" + body).encode()
    post = parse_post("fm/json.md", data)
    assert post.front_matter == json_safe(meta)


_NASTY = st.sampled_from(
    ["[", "]", "{", "}", ":", "- ", "&a", "*a", "!!python/object:os.system", '"', "'", "\t",
     "\n", "= ", "[[", "]]", "\\", "\x00", "\ufeff", "---", "+++", "%YAML 1.1", "? ", "|", ">"]
)  # fmt: skip


@FUZZ
@given(
    st.sampled_from(["yaml", "toml", "json"]),
    _TOML_FRONT,
    st.integers(0, 10_000),
    st.lists(_NASTY, min_size=1, max_size=6),
)
def test_mutated_front_matter_fails_cleanly(
    fmt: str, meta: dict[str, Any], at: int, junk: list[str]
) -> None:
    if fmt == "yaml":
        text = "---\n" + yaml.safe_dump(meta, allow_unicode=True) + "---\nbody\n"
    elif fmt == "toml":
        text = f"+++\n{_toml(meta)}\n+++\nbody\n"
    else:
        text = json.dumps(meta) + "\nbody\n"
    cut = at % (len(text) + 1)
    mutated = text[:cut] + "".join(junk) + text[cut:]
    post = parses_or_fails_cleanly(mutated.encode())
    if post is not None:
        # Python tags never construct objects: what parsed is plain data.
        json.dumps(post.front_matter, allow_nan=False)


# --- nesting ----------------------------------------------------------------------------


@settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.lists(st.sampled_from(["- ", "> ", "1. ", "* ", "  ", "    "]), max_size=400))
def test_deeply_nested_markdown_parses_or_reports_nesting(prefixes: list[str]) -> None:
    lines = ["".join(prefixes[:i]) + f"level {i}" for i in range(0, len(prefixes) + 1, 7)]
    parses_or_fails_cleanly("\n".join(lines).encode())


# --- the parse step over hostile files -----------------------------------------------------


def _nested_list(depth: int) -> bytes:
    return b"".join(b"  " * i + b"- item\n" for i in range(depth))


HOSTILE: dict[str, tuple[bytes, str]] = {
    # path: (content, what the per-post error says)
    "_posts/2024-01-01-latin1.md": (
        "---\ntitle: Caf\xe9\n---\nCr\xe8me br\xfbl\xe9e".encode("latin-1"),
        "not UTF-8 text",
    ),
    "_posts/2024-01-02-binary.md": (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
        "not UTF-8 text",
    ),
    "_posts/2024-01-03-utf16.md": ("---\ntitle: wide\n---\nhi".encode("utf-16"), "not UTF-8"),
    "_posts/2024-01-04-nested.md": (_nested_list(400), "nested too deeply"),
    "_posts/2024-01-05-quotes.md": (b"> " * 5000 + b"deep", "nested too deeply"),
    "_posts/2024-01-06-broken-yaml.md": (
        b"---\ntitle: [unclosed\ntags: {a: 1\n---\nbody\n",
        "invalid YAML front matter",
    ),
    "_posts/2024-01-07-broken-toml.md": (b'+++\ntitle = "x\ndate = \n+++\nbody\n', "TOML"),
    "_posts/2024-01-08-unterminated.md": (b"---\ntitle: never closed\nbody\n", "unterminated"),
    "_posts/2024-01-09-yaml-bomb.md": (
        (
            "---\n"
            + "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))
            + "---\nbody\n"
        ).encode(),
        "too many values",
    ),
    "_posts/2024-01-10-python-tag.md": (
        b"---\ntitle: !!python/object/apply:os.system ['true']\n---\nbody\n",
        "YAML",
    ),
    "_posts/2024-01-11-broken-json.md": (b'{"title": "x",\n"tags": [1, 2\n}\nbody\n', "JSON"),
}


def test_the_parse_step_turns_each_hostile_file_into_a_per_post_error(tmp_path: Path) -> None:
    for rel, (data, _) in HOSTILE.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    big = tmp_path / "_posts/2024-02-01-big.md"
    big.write_bytes(b"---\ntitle: big\n---\n" + b"word " * (2 * 1024 * 1024 // 5))
    known = frozenset(HOSTILE)
    for rel, (_, reason) in HOSTILE.items():
        outcome = parse_one(tmp_path, rel, known, max_bytes=1024 * 1024)
        assert isinstance(outcome, PostError), rel
        assert reason in outcome.reason, (rel, outcome.reason)
    outcome = parse_one(tmp_path, "_posts/2024-02-01-big.md", known, max_bytes=1024 * 1024)
    assert isinstance(outcome, PostError)
    assert "over MAX_POST_BYTES=1048576" in outcome.reason
    # Under the limit the same file is an ordinary post.
    assert isinstance(parse_one(tmp_path, "_posts/2024-02-01-big.md", known), Post)


# --- one job over all of it ------------------------------------------------------------------

BIG_POST_BYTES = 50 * 1024 * 1024


@pytest.fixture
def hostile_corpus(tmp_path: Path) -> Path:
    root = tmp_path / "hostile"
    shutil.copytree(EXAMPLE_BLOG, root)
    for rel, (data, _) in HOSTILE.items():
        (root / rel).write_bytes(data)
    # A 50 MB post: over MAX_POST_BYTES (8 MiB by default), under MAX_FILE_BYTES (64 MiB), so
    # it reaches the parse step, which refuses it unread.
    line = b"All work and no play makes a very long post indeed, line after line.\n"
    with (root / "_posts/2024-03-01-fifty-megabytes.md").open("wb") as fh:
        fh.write(b"---\ntitle: Fifty megabytes\n---\n")
        fh.write(line * (BIG_POST_BYTES // len(line)))
    assert os.path.getsize(root / "_posts/2024-03-01-fifty-megabytes.md") >= 49 * 1024 * 1024
    return root


@pytest.mark.usefixtures("worker")
async def test_a_job_over_a_hostile_corpus_completes_with_per_post_errors(
    settings: Settings, temporal_client: Client, hostile_corpus: Path
) -> None:
    readable = [parses_or_fails_cleanly(p.read_bytes(), "x.md") for p in EXAMPLE_BLOG.rglob("*.md")]
    good = sum(1 for post in readable if post is not None and not post.draft)
    result = await run_job(temporal_client, settings, job_request(hostile_corpus, site="hostile"))

    assert result["status"] == "completed", result
    errors = {e["path"]: e["reason"] for e in result["errors"]}
    for rel, (_, reason) in HOSTILE.items():
        assert reason in errors.get(rel, ""), (rel, errors.get(rel))
    assert "over MAX_POST_BYTES" in errors["_posts/2024-03-01-fifty-megabytes.md"]
    assert result["errorCount"] == len(HOSTILE) + 1
    # Every readable post made it through every step.
    assert result["counts"]["posts"] == good > 0
    assert result["counts"]["sections"] > 0
    assert result["database"]["posts"] == result["counts"]["posts"]
