"""Front matter splitting: YAML, TOML, JSON, errors with line numbers, JSON-safe values."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from pressroom.content.frontmatter import FrontMatterError, json_safe, split_front_matter


def test_yaml_front_matter_and_body() -> None:
    meta, body, fmt = split_front_matter("---\ntitle: Hello\ntags: [a, b]\n---\n# Body\n")
    assert fmt == "yaml"
    assert meta == {"title": "Hello", "tags": ["a", "b"]}
    assert body == "# Body\n"


def test_yaml_dates_become_iso_strings() -> None:
    meta, _, _ = split_front_matter(
        "---\nday: 2020-01-02\nat: 2020-01-02 03:04:05+02:00\nat_z: 2020-01-02T03:04:05Z\n---\n"
    )
    assert meta == {
        "day": "2020-01-02",
        "at": "2020-01-02T03:04:05+02:00",
        "at_z": "2020-01-02T03:04:05+00:00",
    }
    json.dumps(meta)  # must not raise


def test_yaml_closed_with_dots_crlf_and_bom() -> None:
    meta, body, fmt = split_front_matter("\ufeff---\r\ntitle: T\r\n...\r\nbody\r\n")
    assert (meta, body, fmt) == ({"title": "T"}, "body\n", "yaml")


def test_empty_and_comment_only_yaml_is_empty_mapping() -> None:
    assert split_front_matter("---\n---\nx") == ({}, "x", "yaml")
    assert split_front_matter("---\n# nothing here\n---\nx") == ({}, "x", "yaml")


def test_later_thematic_breaks_are_not_front_matter() -> None:
    text = "Intro\n\n---\n\nmore\n---\n"
    assert split_front_matter(text) == ({}, text, "none")


def test_toml_front_matter() -> None:
    meta, body, fmt = split_front_matter(
        '+++\ntitle = "T"\ndate = 1979-05-27T07:32:00Z\nday = 1979-05-27\n'
        "[params]\nn = 1\n+++\nbody"
    )
    assert fmt == "toml"
    assert meta == {
        "title": "T",
        "date": "1979-05-27T07:32:00+00:00",
        "day": "1979-05-27",
        "params": {"n": 1},
    }
    assert body == "body"


def test_hugo_json_object_front_matter_with_nested_objects() -> None:
    text = '{\n  "title": "T",\n  "params": {"a": {"b": [1, 2]}}\n}\n\nBody {x}\n'
    meta, body, fmt = split_front_matter(text)
    assert fmt == "json"
    assert meta == {"title": "T", "params": {"a": {"b": [1, 2]}}}
    assert body == "\nBody {x}\n"


def test_json_one_line_and_semicolon_fenced() -> None:
    assert split_front_matter('{"a": 1} rest') == ({"a": 1}, " rest", "json")
    assert split_front_matter(';;;\n{"a": 1}\n;;;\nbody') == ({"a": 1}, "body", "json")


@pytest.mark.parametrize("body", ["{% include x.html %}\ntext", "{{ page.title }}", "{: .note}\nx"])
def test_templates_at_top_are_not_json(body: str) -> None:
    assert split_front_matter(body) == ({}, body, "none")


def test_no_front_matter() -> None:
    assert split_front_matter("# Just markdown") == ({}, "# Just markdown", "none")
    assert split_front_matter("") == ({}, "", "none")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("---\ntitle: x\n  bad: [\n---\n", "invalid YAML front matter: line 3: mapping values"),
        ("---\na: 1\nb: [1, 2\n---\n", "invalid YAML front matter: line 4:"),
        ("---\n- a\n- b\n---\n", "YAML front matter must be a mapping of keys to values, got list"),
        (
            "---\njust a string\n---\n",
            "YAML front matter must be a mapping of keys to values, got str",
        ),
        ("---\ntitle: x\n", "unterminated YAML front matter"),
        ('+++\ntitle = "x"\ntitle = 1\n+++\n', "invalid TOML front matter: line 3:"),
        ("+++\ntitle: x\n", "unterminated TOML front matter"),
        ('{"title": }\n', "invalid JSON front matter: line 1 column 11: Expecting value"),
        ('{\n"a": 1,\n}\n', "invalid JSON front matter: line 3"),
        (';;;\n{"a": 1} junk\n;;;\n', "invalid JSON front matter: text after the JSON object"),
        (";;;\n[1]\n;;;\n", "JSON front matter must be a mapping of keys to values, got list"),
    ],
)
def test_malformed_front_matter_raises_clear_errors(text: str, expected: str) -> None:
    with pytest.raises(FrontMatterError) as info:
        split_front_matter(text)
    assert expected in str(info.value)
    assert isinstance(info.value, ValueError)


def test_yaml_alias_bomb_and_recursive_alias_are_errors() -> None:
    lines = ["---", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    with pytest.raises(FrontMatterError, match="too many values"):
        split_front_matter("\n".join([*lines, "---", ""]))
    with pytest.raises(FrontMatterError, match="contains itself"):
        split_front_matter("---\na: &a [*a]\n---\n")


def test_deeply_nested_front_matter_is_an_error_not_a_crash() -> None:
    with pytest.raises(FrontMatterError):
        split_front_matter("---\na: " + "[" * 10_000 + "\n---\n")
    with pytest.raises(FrontMatterError, match="nested too deeply"):
        split_front_matter('{"a": ' + "[" * 100_000)


def test_json_safe_converts_everything() -> None:
    value = {
        dt.date(2020, 1, 2): {1, 3, 2},
        1: (dt.datetime(2020, 1, 2, 3, 4, tzinfo=dt.UTC), dt.time(5, 6)),
        None: [b"text", b"\xff\x00", Decimal("1.5"), float("nan"), float("inf")],
        2.5: object,
    }
    safe = json_safe(value)
    assert safe == {
        "2020-01-02": [1, 2, 3],
        "1": ["2020-01-02T03:04:00+00:00", "05:06:00"],
        "null": ["text", "/wA=", 1.5, None, None],
        "2.5": "<class 'object'>",
    }
    assert json.loads(json.dumps(safe, allow_nan=False)) == safe


def test_json_safe_limits() -> None:
    deep: list[object] = []
    node = deep
    for _ in range(50):
        node.append([])
        node = node[0]  # type: ignore[assignment]
    assert json_safe(deep, max_depth=60) is not None
    with pytest.raises(ValueError, match="nested too deeply"):
        json_safe(deep, max_depth=10)
    with pytest.raises(ValueError, match="too many values"):
        json_safe(list(range(100)), max_nodes=50)
